"""Memory soak (SPEC §5): the whole pipeline under realistic traffic from ``sessionflow loadgen``
for a long run, with the RSS of every process (edge, worker, sink, API) and the consumer lag
sampled every 10 s; the result shows whether each RSS reaches a plateau.

Needs scripts/services up. Run:
    .venv/bin/python bench/soak.py [--seconds 1800] [--players 300] [--compress 10]
Writes bench/results/soak_realistic.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.capacity import lag  # noqa: E402
from tests.e2e.pipeline import launch  # noqa: E402
from tests.e2e.sessions import ORG  # noqa: E402
from tests.e2e.test_operations import scrape  # noqa: E402
from tests.services import unique_settings  # noqa: E402

HERE = ROOT / "bench"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def histogram_p(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, q: float) -> str:
    """The upper bound of the bucket holding quantile ``q`` of a Prometheus histogram, all
    label sets summed (``"+Inf"`` past the last bucket)."""
    cumulative: dict[float, float] = {}
    for labels, value in samples.get(name + "_bucket", []):
        bound = float(labels["le"])
        cumulative[bound] = cumulative.get(bound, 0.0) + value
    if not cumulative:
        return "n/a"
    wanted = q * cumulative[max(cumulative)]
    bound = min(b for b, count in cumulative.items() if count >= wanted)
    return "+Inf" if bound == float("inf") else f"<= {bound * 1000:g} ms"


def server_side(edge_ops_url: str) -> dict[str, str]:
    """The edge's own view (its /metrics): request latency and Kafka acknowledgement time,
    p50/p99 as histogram buckets, to tell a slow pipeline from a slow load generator."""
    samples = scrape(edge_ops_url)
    return {
        f"{what}_{label}": histogram_p(samples, name, q)
        for what, name in (
            ("edge_request", "sessionflow_http_request_duration_seconds"),
            ("kafka_ack", "sessionflow_kafka_produce_duration_seconds"),
        )
        for label, q in (("p50", 0.5), ("p99", 0.99))
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=1800)
    parser.add_argument("--players", type=int, default=300)
    parser.add_argument("--compress", type=float, default=10.0)
    parser.add_argument("--out", default="soak_realistic.json")
    args = parser.parse_args()
    work = HERE / "results" / "logs" / "soak"
    work.mkdir(parents=True, exist_ok=True)
    pipeline = launch(unique_settings(), work)
    samples = []
    try:
        load = subprocess.Popen(
            [sys.executable, "-m", "sessionflow_cli", "loadgen", "--edge", pipeline.edge_url,
             "--org", ORG, "--players", str(args.players), "--seconds", str(args.seconds),
             "--compress", str(args.compress), "--ramp", "60", "--json",
             str(work / "loadgen.json")],
            env=pipeline.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        began = time.monotonic()
        while load.poll() is None:
            sample: dict[str, float] = {"t_s": round(time.monotonic() - began)}
            for name, child in pipeline.children.items():
                sample[f"{name}_rss_mb"] = rss_mb(child.pid)
            sample["worker_lag"] = lag(pipeline.ops_urls["worker"])
            sample["sink_lag"] = lag(pipeline.ops_urls["sink"])
            samples.append(sample)
            time.sleep(10)
        summary = json.loads((work / "loadgen.json").read_text())
        edge_view = server_side(pipeline.ops_urls["edge"])
    finally:
        pipeline.stop_all()

    def at(minute: float) -> dict[str, float]:
        return min(samples, key=lambda s: abs(s["t_s"] - minute * 60))

    marks = [m for m in (1, 5, 10, 15, 20, 25, 30) if m * 60 <= args.seconds]
    result = {
        "seconds": args.seconds, "players": args.players, "compress": args.compress,
        "loadgen": summary,
        "edge_view": edge_view,
        "rss_mb_at_minute": {
            m: {k: v for k, v in at(m).items() if k.endswith("_mb")} for m in marks
        },
        "max_lag": {k: max(s[k] for s in samples) for k in ("worker_lag", "sink_lag")},
        "samples": samples,
    }  # fmt: skip
    (HERE / "results" / args.out).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
