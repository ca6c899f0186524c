"""``sessionflow reconcile`` rebuilds counts from raw sessions, idempotently, and outranks a
worker count for the same data (e.g. one that missed a late session)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from readapi.series import session_series
from schemas import codec
from sessionflow.records import ConsumedRecord
from sessionflow.timebuckets import Unit, series_buckets, to_ms
from sessionflow.topics import Topics
from sinks.writer import ClickHouseWriter
from tests.e2e.pipeline import settings_env

from .test_sink import start_record


def test_reconcile_rebuilds_counts_idempotently(settings, clickhouse, anyio_backend):
    topics = Topics(settings.topic_prefix)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=5)
    times = [day + timedelta(hours=h, minutes=7) for h in (1, 1, 5, 23)] + [
        day + timedelta(days=1, hours=2)
    ]
    batch = [
        ConsumedRecord(topics.media_events, offset % 2, offset, None,
                 codec.media_events().encode(start_record(f"{offset:064x}", to_ms(at))))
        for offset, at in enumerate(times)
    ]  # fmt: skip
    ClickHouseWriter(clickhouse, topics, 5000).write(batch)
    # A worker count that missed one session of hour 01:00 (partition 0 holds offsets 0 and 2).
    clickhouse.insert(
        "session_counts",
        ("org_id", "app_id", "segment_id", "unit", "bucket_start", "source_partition", "count",
         "version"),
        [("org'1", "app\\1", "", "hour", day + timedelta(hours=1), 0, 1, 0)],
    )  # fmt: skip
    env = settings_env(settings, {"PATH": "/usr/bin:/bin"})
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-m", "sessionflow_cli", "reconcile", "--from", day.date().isoformat(),
             "--to", (day + timedelta(days=2)).isoformat()],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert "reconciled 2 day(s)" in done.stdout
        assert "reconcile" in done.stderr  # the progress bar

    async def series(unit: Unit, length: int) -> list[int]:
        end = day + timedelta(days=1, hours=23)
        buckets = series_buckets(end, unit, length)
        return await session_series(clickhouse, "org'1", None, "", buckets)

    import asyncio

    assert asyncio.run(series(Unit.DAY, 3)) == [0, 4, 1]
    hours = asyncio.run(series(Unit.HOUR, 48))
    assert hours[1] == 2 and hours[5] == 1 and hours[23] == 1 and hours[26] == 1 and sum(hours) == 5


def test_reconcile_refuses_an_empty_range(settings, clickhouse):
    env = settings_env(settings, {"PATH": "/usr/bin:/bin"})
    done = subprocess.run(
        [sys.executable, "-m", "sessionflow_cli", "reconcile", "--from", "2030-01-01"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode != 0 and "empty range" in done.stderr
