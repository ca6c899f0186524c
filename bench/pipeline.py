"""Pipeline benchmark on the real processes, Kafka and ClickHouse:

1. freshness: time from a 201 to the session being visible in data_series (p50/p99);
2. load: wrk drives the edge at its max rate while the worker's and the sink's consumer lag
   (records not committed yet) and the RSS of the edge and the worker are sampled every
   second, and each process's CPU over the load is taken (``bench/cpu.py``); then the time for
   both lags to drain.

Needs scripts/services up and wrk. Run:
    .venv/bin/python bench/pipeline.py [--samples 100] [--load-seconds 60]
(--load-seconds 1800 is the 30-minute soak). Writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cpu import CpuShares, services_pids  # noqa: E402
from bench.stats import percentile  # noqa: E402
from sessionflow import kafka  # noqa: E402
from sessionflow.settings import Settings  # noqa: E402
from sessionflow.topics import Topics  # noqa: E402
from tests.e2e.pipeline import launch  # noqa: E402
from tests.services import unique_settings  # noqa: E402

HERE = ROOT / "bench"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The end offset of each of ``topic``'s partitions (all of them, from the settings)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        return {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def group_lag(settings: Settings, group: str, topic: str) -> int:
    """Records of ``topic`` the consumer ``group`` has not committed yet, over every partition
    (one it has never committed counts from 0: before the group's first commit the lag is the
    whole topic, not 0)."""
    committed = await kafka.committed_offsets(settings, group, topic)
    ends = await end_offsets(settings, topic)
    return sum(end - committed.get(partition, 0) for partition, end in ends.items())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--load-seconds", type=int, default=60)
    parser.add_argument(
        "--delay-ms", type=int, default=0,
        help="pause per connection between requests (0: max rate); 100 ~ 300 req/s on 32 conns",
    )  # fmt: skip
    parser.add_argument(
        "--segments", type=int, default=0,
        help="segments defined before the load (the worker evaluates each on every session)",
    )  # fmt: skip
    parser.add_argument("--out", default="pipeline.json")
    args = parser.parse_args()
    logs = HERE / "results" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    pipeline = launch(unique_settings(), logs)
    results: dict[str, object] = {}
    try:
        key = pipeline.create_key("--org", "BENCH@AdobeOrg", "--app", "bench-app")
        auth = {"Authorization": f"Bearer {key}"}
        edge = httpx.Client(base_url=pipeline.edge_url)
        api = httpx.Client(base_url=pipeline.api_url)
        body = json.loads((HERE / "session.json").read_text())

        def count() -> int:
            end = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
            data = api.get("/sessions/data_series", params={"length": 2, "ending_at": end},
                           headers=auth).json()["data"]  # fmt: skip
            return sum(item["sessions"] for item in data)

        # 1. freshness
        edge.post("/api/v1/sessions", json=body)
        time.sleep(15)  # let the worker's first assignment settle
        fresh = []
        for _ in range(args.samples):
            before = count()
            body["playerTime"]["ts"] = int(time.time() * 1000)
            t0 = time.perf_counter()
            assert edge.post("/api/v1/sessions", json=body).status_code == 201
            while count() <= before:
                time.sleep(0.01)
            fresh.append((time.perf_counter() - t0) * 1000)
        results["freshness_ms"] = {
            "p50": round(percentile(fresh, 50)), "p99": round(percentile(fresh, 99)),
            "max": round(max(fresh)), "samples": len(fresh),
        }  # fmt: skip

        # 2. segments: definition latency (markers, sink catch-up, backfill) and first answers
        put_ms = []
        for i in range(max(args.segments, 5)):
            definition = {"name": f"bench {i}", "app_id": "bench-app", "filter": {"any": [
                {"field": "params.media.contentType", "op": "eq", "value": "VOD"},
                {"field": "customMetadata.n", "op": "eq", "value": str(i)}]}}  # fmt: skip
            t0 = time.perf_counter()
            response = api.put(f"/segments/s{i}", json=definition, headers=auth, timeout=60)
            put_ms.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 201, response.text
        end = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
        first = api.get("/sessions/data_series", params={"length": 2, "ending_at": end,
                        "segment_id": "s0"}, headers=auth).json()["data"]  # fmt: skip
        assert sum(item["sessions"] for item in first) == count()  # every session is VOD
        for i in range(args.segments, max(args.segments, 5)):
            assert api.delete(f"/segments/s{i}", headers=auth).status_code == 204
        results["segment_put_ms"] = {
            "p50": round(percentile(put_ms, 50)), "max": round(max(put_ms)),
            "defined": len(put_ms), "kept_for_load": args.segments,
        }  # fmt: skip

        # 3. load, lag and memory
        samples: list[dict[str, float]] = []
        stop = threading.Event()
        settings = pipeline.settings
        topics = Topics(settings.topic_prefix)

        def sample() -> None:
            while not stop.is_set():
                samples.append({
                    "t": time.monotonic(),
                    "lag": asyncio.run(
                        group_lag(settings, topics.worker_app_id, topics.media_events)
                    ),
                    "sink_lag": asyncio.run(
                        group_lag(settings, settings.sink_group, topics.media_events)
                    ),
                    "edge_rss_mb": rss_mb(pipeline.children["edge"].pid),
                    "worker_rss_mb": rss_mb(pipeline.children["worker"].pid),
                })  # fmt: skip
                time.sleep(1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        pids = {name: child.pid for name, child in pipeline.children.items()}
        cpu = CpuShares({**pids, **services_pids()})
        load = subprocess.run(
            ["wrk", "-t1", "-c32", f"-d{args.load_seconds}s", "-s",
             str(HERE / "post_session.lua"), pipeline.edge_url],
            capture_output=True, text=True, check=True,
            env={**os.environ, "BENCH_DELAY_MS": str(args.delay_ms)},
        ).stdout  # fmt: skip
        load_end = time.monotonic()
        cpu_during_load = cpu.done()
        drained_at = None
        while time.monotonic() - load_end < 300:
            last = samples[-1] if samples else None
            if last and last["t"] > load_end and last["lag"] == 0 and last["sink_lag"] == 0:
                drained_at = last["t"]
                break
            time.sleep(0.5)
        stop.set()
        sampler.join()
        during = [s for s in samples if s["t"] <= load_end]
        rps = float(next(line.split()[1] for line in load.splitlines() if "Requests/sec" in line))
        results["load"] = {
            "seconds": args.load_seconds,
            "delay_ms": args.delay_ms,
            "edge_rps": round(rps),
            "cpu_percent_of_one_core": cpu_during_load,
            "worker_lag_max": max(s["lag"] for s in during),
            "worker_lag_at_end_of_load": during[-1]["lag"],
            "sink_lag_max": max(s["sink_lag"] for s in during),
            "sink_lag_at_end_of_load": during[-1]["sink_lag"],
            "drain_seconds_after_load": round(drained_at - load_end, 1) if drained_at else None,
            "edge_rss_mb_first_last_max": [round(during[0]["edge_rss_mb"]),
                                           round(during[-1]["edge_rss_mb"]),
                                           round(max(s["edge_rss_mb"] for s in during))],
            "worker_rss_mb_first_last_max": [round(during[0]["worker_rss_mb"]),
                                             round(during[-1]["worker_rss_mb"]),
                                             round(max(s["worker_rss_mb"] for s in during))],
            "lag_every_10s": [s["lag"] for s in during][::10][:200],
            "sink_lag_every_10s": [s["sink_lag"] for s in during][::10][:200],
            "rss_mb_every_60s": [
                [round(s["edge_rss_mb"]), round(s["worker_rss_mb"])] for s in during
            ][::60],
        }  # fmt: skip
    finally:
        pipeline.stop_all()
    (HERE / "results" / args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
