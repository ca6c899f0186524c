"""The sink's writer against the real ClickHouse: redelivered records never show twice."""

from __future__ import annotations

from schemas import codec
from schemas.topics import Topics
from sessionflow.kafka import ConsumedRecord
from sinks.writer import ClickHouseWriter


def start_record(sid: str, at_ms: int) -> dict:
    return {
        "session_id": sid, "event_type": "sessionStart", "received_ms": at_ms,
        "player_ts_ms": at_ms, "playhead": 0.0, "session_time_ms": at_ms,
        "session_time_source": "player", "org_id": "org'1", "app_id": "app\\1",
        "params": {"media.id": "m", "media.length": 10.0, "media.show": "s"},
        "custom_metadata": {"k": "v"}, "qoe_data": {},
    }  # fmt: skip


def test_redelivered_batch_is_stored_once(settings, clickhouse):
    topics = Topics(settings.topic_prefix)
    writer = ClickHouseWriter(clickhouse, topics, 5000)
    at = 1_731_672_000_000
    batch = [
        ConsumedRecord(topics.media_events, 0, offset, None,
                 codec.media_events().encode(start_record(f"{offset:064x}", at)))
        for offset in range(5)
    ]  # fmt: skip
    count = {"org_id": "org'1", "app_id": "app\\1", "segment_id": "", "unit": "hour",
             "bucket_start_ms": at - at % 3_600_000, "source_partition": 0, "count": 5,
             "version": 4}  # fmt: skip
    batch.append(
        ConsumedRecord(topics.session_counts, 0, 0, None, codec.session_counts().encode(count))
    )
    first = writer.write(batch)
    assert (first.sessions, first.events, first.counts, first.duplicates) == (5, 5, 1, 0)
    again = writer.write(batch[2:] + batch[:2])
    assert (again.sessions, again.events, again.duplicates) == (0, 0, 10)
    db = settings.clickhouse_database
    assert clickhouse.execute(f"SELECT count(), uniqExact(session_id) FROM {db}.sessions") == [
        (5, 5)
    ]
    assert clickhouse.execute(f"SELECT count() FROM {db}.events") == [(5,)]
    assert clickhouse.execute(f"SELECT sum(sessions) FROM {db}.session_counts_current") == [(5,)]
    row = clickhouse.execute(f"SELECT show, custom_keys, media_name FROM {db}.sessions LIMIT 1")
    assert row == [("s", ["k"], None)]


def test_undecodable_records_are_rejected_not_fatal(settings, clickhouse):
    topics = Topics(settings.topic_prefix)
    result = ClickHouseWriter(clickhouse, topics, 5000).write(
        [ConsumedRecord(topics.media_events, 1, 9, b"k", b"not avro")]
    )
    assert [r.reason for r in result.rejected] == ["undecodable"]
