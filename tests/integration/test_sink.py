"""The sink's writer against the real ClickHouse: redelivered records never show twice."""

from __future__ import annotations

from schemas import codec
from sessionflow.records import ConsumedRecord
from sessionflow.topics import Topics
from sinks.writer import ID_LIST_BYTES, ClickHouseWriter, id_lists


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


def test_a_full_batch_with_maximal_ids_is_stored_and_deduplicated(settings, clickhouse):
    """The batch a restarted sink polls behind a backlog: ``sink_batch_max`` sessionStarts and
    as many events of the same sessions, 64-character ids. Its lookups used to be one 335 KB
    statement that ClickHouse refused (max_query_size) forever."""
    topics = Topics(settings.topic_prefix)
    writer = ClickHouseWriter(clickhouse, topics, 5000)
    at = 1_731_672_000_000
    size = settings.sink_batch_max
    ids = [f"{2**256 - 1 - i:064x}" for i in range(size)]  # ffff…ffff, ffff…fffe, …
    assert len(set(ids)) == size and all(len(i) == 64 for i in ids)
    ping = {**start_record("", at), "event_type": "ping", "session_time_ms": None,
            "session_time_source": None, "org_id": None, "app_id": None, "params": {},
            "custom_metadata": {}}  # fmt: skip
    batch = [
        ConsumedRecord(topics.media_events, 0, i, sid.encode(),
                       codec.media_events().encode(start_record(sid, at)))
        for i, sid in enumerate(ids)
    ] + [
        ConsumedRecord(topics.media_events, 0, size + i, sid.encode(),
                       codec.media_events().encode({**ping, "session_id": sid}))
        for i, sid in enumerate(ids)
    ]  # fmt: skip
    first = writer.write(batch)
    assert (first.sessions, first.events, first.duplicates) == (size, 2 * size, 0)
    again = writer.write(batch)
    assert (again.sessions, again.events, again.duplicates) == (0, 0, 3 * size)
    db = settings.clickhouse_database
    assert clickhouse.execute(f"SELECT count(), uniqExact(session_id) FROM {db}.sessions") == [
        (size, size)
    ]
    # Every ping got its session's org and app from the sessionStart.
    assert clickhouse.execute(
        f"SELECT count() FROM {db}.events WHERE event_type = 'ping' AND org_id = 'org''1'"
    ) == [(size,)]


def test_id_lists_are_bounded():
    ids = [f"{i:064x}" for i in range(20_000)]
    lists = list(id_lists(ids))
    assert all(len(listed) <= ID_LIST_BYTES for listed in lists)
    assert sum(listed.count("'") // 2 for listed in lists) == len(ids)
    assert list(id_lists(["x" * 100], max_bytes=10)) == ["'" + "x" * 100 + "'"]
