"""Scale-out benchmark (SPEC §5): the same realistic load (``bench/player_sessions.lua`` at max
rate for N seconds) against one edge process, one worker and one sink, then against two of
each (``edge --processes 2``, two workers and two sinks in their groups). Reports the edge's
rate and p99, and how long after the load the worker and the sink had caught up (all on the
same 2 cores, so "beats" is about what the second process gets from the idle time of the
first).

Needs scripts/services up and wrk. Run:
    .venv/bin/python bench/scale_out.py [--seconds 30]
Writes bench/results/scale_out.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.capacity import lag, session_files, wrk  # noqa: E402
from tests.e2e.pipeline import Pipeline, launch  # noqa: E402
from tests.faults.test_scale_out import wait_ready  # noqa: E402
from tests.services import free_port, unique_settings  # noqa: E402

HERE = ROOT / "bench"


def doubled(pipeline: Pipeline) -> dict[str, str]:
    """Two of each: returns the ops URLs of every worker and sink."""
    pipeline.stop("edge")
    pipeline.start("edge", ["edge", "--processes", "2"])
    urls = {"worker": pipeline.ops_urls["worker"], "sink": pipeline.ops_urls["sink"]}
    for name, command, kind in (("worker-b", "worker", "WORKER"), ("sink-b", "sink", "SINK")):
        port = free_port()
        pipeline.start(name, [command], {f"SESSIONFLOW_{kind}_OPS_PORT": str(port)})
        urls[name] = f"http://127.0.0.1:{port}"
    for url in [pipeline.edge_url, *urls.values()]:
        wait_ready(url)
    return urls


def measure(two: bool, seconds: int, files: dict[str, str]) -> dict[str, object]:
    work = HERE / "results" / "logs" / ("scale_two" if two else "scale_one")
    work.mkdir(parents=True, exist_ok=True)
    pipeline = launch(unique_settings(), work)
    try:
        urls = doubled(pipeline) if two else {
            "worker": pipeline.ops_urls["worker"], "sink": pipeline.ops_urls["sink"]
        }  # fmt: skip
        wrk(pipeline.edge_url, 3, 32, files)  # warm-up
        time.sleep(5)
        load = wrk(pipeline.edge_url, seconds, 32, files)
        ended = time.monotonic()
        behind = {name: lag(url) for name, url in urls.items()}
        while any(lag(url) for url in urls.values()) and time.monotonic() - ended < 600:
            time.sleep(0.5)
        caught_up = round(time.monotonic() - ended, 1)
    finally:
        pipeline.stop_all()
    return {
        "edge_rps": load["rps"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
        "non2xx": load["non2xx"], "errors": load["errors"], "requests": load["requests"],
        "lag_at_end_of_load": behind, "caught_up_after_load_s": caught_up,
        "records_per_s_end_to_end": round(load["requests"] / (seconds + caught_up)),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    work = HERE / "results" / "logs" / "scale"
    work.mkdir(parents=True, exist_ok=True)
    files = session_files(work)
    result = {
        "seconds": args.seconds,
        "one_of_each": measure(False, args.seconds, files),
        "two_of_each": measure(True, args.seconds, files),
    }
    (HERE / "results" / "scale_out.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
