"""Edge benchmark: sessionStart throughput against a bare hello-world app on the same HTTP stack
(Starlette + uvicorn, one process each), then p99 latency at 80 % of the edge's max rate.

Needs the real Kafka (scripts/services up) and wrk (apt-get install wrk). Run:
    .venv/bin/python bench/edge.py [--seconds 20] [--connections 32]
Writes bench/results/edge.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from bench.capacity import hello_app, wrk_json  # noqa: E402


def wait(url: str) -> None:
    for _ in range(200):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def wrk(url: str, seconds: int, connections: int, delay_ms: int = 0) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
         str(HERE / "post_session.lua"), url],
        capture_output=True, text=True, check=True,
        env={**os.environ, "BENCH_DELAY_MS": str(delay_ms)},
    ).stdout  # fmt: skip
    result = wrk_json(out)
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    env = {**os.environ, "SESSIONFLOW_TOPIC_PREFIX": f"bench{int(time.time())}.",
           "SESSIONFLOW_EDGE_PORT": "18180"}  # fmt: skip
    edge = subprocess.Popen([sys.executable, "-m", "sessionflow_cli", "edge"], env=env)
    try:
        with hello_app() as (hello_url, _pid):
            wait("http://127.0.0.1:18180/health")
            wrk("http://127.0.0.1:18180", 3, args.connections)  # warm-up
            reference = wrk(hello_url, args.seconds, args.connections)
        edge_max = wrk("http://127.0.0.1:18180", args.seconds, args.connections)
        # 80 % of max: each of N connections waits so that N / (delay + latency) is about 0.8 * max.
        target = 0.8 * edge_max["rps"]
        connections = 16
        delay_ms = max(1, int(1000 * connections / target - edge_max["p50_ms"]))
        paced = wrk("http://127.0.0.1:18180", args.seconds, connections, delay_ms)
    finally:
        edge.terminate()
        edge.wait()
    results = {
        "hello_world_rps": round(reference["rps"]),
        "edge_rps": round(edge_max["rps"]),
        "edge_vs_hello": round(edge_max["rps"] / reference["rps"], 3),
        "edge_max": edge_max,
        "at_80_percent": {"target_rps": round(target), **paced, "rps": round(paced["rps"])},
        "connections": args.connections,
        "seconds": args.seconds,
    }
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "edge.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
