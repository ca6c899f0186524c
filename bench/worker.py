"""Worker (or sink) throughput: how fast one worker process counts a backlog, alone on the
machine (``--process sink``: how fast one sink stores it in ClickHouse).

For each kind of traffic — ``realistic`` (60-record sessions: a sessionStart and its player's
events, ``tests/backlog.py``, one session after the other), ``interleaved`` (10,000 sessions of
30 records in turn, as live viewers send them: every flush of the worker's tables sees each
session about once, so nothing coalesces) and ``starts`` (sessionStarts only: a live event
beginning) — N records are written straight to media-events, then:

1. reference: a bare aiokafka consumer reads the same records (no decoding, no state): what
   reading them costs in Python on this machine;
2. the worker starts and counts them: records/s from its first consumed record to its last
   (from its /metrics; the sink's: to its committed offsets covering them all, so stored),
   and every session counted once; its RSS and its RocksDB tables'
   memory (``sessionflow_worker_rocksdb_bytes``) at the end.

Needs scripts/services up. Run:
    .venv/bin/python bench/worker.py [--records 300000] [--starts 60000] [--out worker.json]
        [--process worker|sink]
        [--kinds realistic,interleaved,starts]
(``--records``: realistic and interleaved records each)
Writes bench/results/<out>.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import group_lag  # noqa: E402
from bench.soak import rss_mb  # noqa: E402
from sessionflow.kafka import ensure_sessionflow_topics  # noqa: E402
from sessionflow.settings import Settings  # noqa: E402
from sessionflow.topics import Topics  # noqa: E402
from tests.backlog import write_backlog  # noqa: E402
from tests.e2e.pipeline import Pipeline, settings_env  # noqa: E402
from tests.e2e.test_operations import scrape, total  # noqa: E402
from tests.services import free_port, unique_settings  # noqa: E402

HERE = ROOT / "bench"


async def bare_read(settings: Settings, records: int) -> float:
    """Records/s of a bare consumer reading ``records`` records of media-events."""
    topic = Topics(settings.topic_prefix).media_events
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen = 0
        began = time.monotonic()
        while seen < records:
            batches = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(batch) for batch in batches.values())
        return seen / (time.monotonic() - began)
    finally:
        await consumer.stop()


INTERLEAVED_SESSIONS = 10_000


def run(kind: str, records: int, logs: Path, process: str = "worker") -> dict[str, object]:
    per_session = {"realistic": 60, "interleaved": 30, "starts": 1}[kind]
    concurrent = INTERLEAVED_SESSIONS if kind == "interleaved" else 1
    settings = unique_settings().model_copy(
        update={"worker_ops_port": free_port(), "sink_ops_port": free_port()}
    )
    asyncio.run(ensure_sessionflow_topics(settings))
    sessions = records // per_session
    began = time.monotonic()
    asyncio.run(
        write_backlog(
            settings, "BENCH", ("a", "b"), sessions, per_session - 1, concurrent=concurrent
        )
    )
    written = sessions * per_session
    result: dict[str, object] = {
        "kind": kind,
        "records": written,
        "records_per_session": per_session,
        "concurrent_sessions": concurrent,
        "write_seconds": round(time.monotonic() - began, 1),
        "bare_consumer_records_per_s": round(asyncio.run(bare_read(settings, written))),
    }
    pipeline = Pipeline(settings, settings_env(settings, os.environ), logs)
    pipeline.start(process)
    try:
        url = pipeline.ops_urls[process]
        pipeline.wait_http(url + "/ready", 120)
        first = None
        consumed_at_first = 0.0
        while True:
            samples = scrape(url)
            fetched = total(samples, "sessionflow_records_consumed_total")
            consumed = fetched
            if process == "sink" and fetched > 0:
                # Stored, not fetched: the sink holds records it fetched for its next store
                # (SINK_STORE_INTERVAL_MS) and commits their offsets once they are stored.
                # The run's topics are its own, so what is written less what is not committed.
                consumed = written - asyncio.run(
                    group_lag(
                        settings, settings.sink_group, Topics(settings.topic_prefix).media_events
                    )
                )
            now = time.monotonic()
            if first is None and fetched > 0:
                first, consumed_at_first = now, consumed
            if consumed >= written:
                break
            time.sleep(0.25)
        assert first is not None
        seconds = now - first
        result[f"{process}_seconds"] = round(seconds, 1)
        result[f"{process}_records_per_s"] = round((consumed - consumed_at_first) / seconds)
        result[f"{process}_rss_mb_at_end"] = rss_mb(pipeline.children[process].pid)
        if process == "worker":
            result["sessions_counted"] = int(total(samples, "sessionflow_records_counted_total"))
            result["rocksdb_mb_at_end"] = {
                labels["part"]: round(value / 2**20, 1)
                for labels, value in samples.get("sessionflow_worker_rocksdb_bytes", [])
            }
        result["sessions_written"] = sessions
    finally:
        pipeline.stop_all()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000, help="realistic records")
    parser.add_argument("--starts", type=int, default=60_000, help="start-only records")
    parser.add_argument("--out", default="worker.json")
    parser.add_argument("--process", default="worker", choices=("worker", "sink"))
    parser.add_argument(
        "--kinds", default="realistic,interleaved,starts", help="comma-separated, in this order"
    )
    args = parser.parse_args()
    logs = HERE / "results" / "logs" / args.process
    logs.mkdir(parents=True, exist_ok=True)
    results = [
        run(kind, args.starts if kind == "starts" else args.records, logs, args.process)
        for kind in args.kinds.split(",")
    ]
    out = HERE / "results" / args.out
    out.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
