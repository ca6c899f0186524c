"""Counting a segment from ClickHouse: the backfill takes the sessions before each partition's
start marker, reconciliation rewrites the worker's share after it (e.g. a session the worker
dead-lettered as late), and together they count each matching session once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from readapi.series import session_series
from schemas import codec
from sessionflow.backfill import backfill, reconcile_segment
from sessionflow.records import ConsumedRecord
from sessionflow.segmentfilter import canonical, parse_filter
from sessionflow.segments import Segment
from sessionflow.timebuckets import Unit, series_buckets, to_ms
from sessionflow.topics import Topics
from sinks.writer import ClickHouseWriter

from .test_sink import start_record

GOLD = parse_filter({"field": "customMetadata.tier", "op": "eq", "value": "gold"})


async def test_backfill_and_reconcile_split_at_the_markers(settings, clickhouse, anyio_backend):
    topics = Topics(settings.topic_prefix)
    day = datetime(2025, 6, 1, tzinfo=UTC)
    batch = []
    gold: dict[int, list[int]] = {0: [], 1: []}
    for partition, offsets in ((0, range(10)), (1, range(6))):
        for offset in offsets:
            record = start_record(f"{partition}{offset:063x}", to_ms(day + timedelta(hours=offset)))
            record["custom_metadata"] = {"tier": "gold" if offset % 2 == 0 else "silver"}
            if offset % 2 == 0:
                gold[partition].append(offset)
            batch.append(ConsumedRecord(topics.media_events, partition, offset, None,
                                  codec.media_events().encode(record)))  # fmt: skip
    ClickHouseWriter(clickhouse, topics, 5000).write(batch)
    # Start markers at offset 5 of partition 0 and 3 of partition 1 (no sessions there: in
    # Kafka those offsets hold the markers themselves).
    segment = Segment("org'1", "gold", 1, None, canonical(GOLD), markers=(5, 3))
    backfill(clickhouse, segment)
    backfill(clickhouse, segment)  # idempotent

    async def hours() -> list[int]:
        buckets = series_buckets(day + timedelta(hours=23, minutes=59), Unit.HOUR, 24)
        return await session_series(clickhouse, "org'1", None, "gold@1", buckets)

    before = [o for o in gold[0] if o < 5] + [o for o in gold[1] if o < 3]
    assert sum(await hours()) == len(before) == 5  # p0: 0, 2, 4; p1: 0, 2
    # The worker's share, rebuilt from ClickHouse (as if it had dead-lettered them all).
    reconcile_segment(
        clickhouse, segment, to_ms(day) // 1000, to_ms(day + timedelta(days=1)) // 1000
    )
    assert sum(await hours()) == len(gold[0]) + len(gold[1]) == 8
    reconcile_segment(
        clickhouse, segment, to_ms(day) // 1000, to_ms(day + timedelta(days=1)) // 1000
    )
    expected = {0: 2, 2: 2, 4: 2, 6: 1, 8: 1}  # p0 gold at hours 0..8, p1 at 0, 2, 4
    assert await hours() == [expected.get(h, 0) for h in range(24)]
