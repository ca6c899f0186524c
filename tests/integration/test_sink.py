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
    times = [
        clickhouse.execute(f"SELECT DISTINCT toUnixTimestamp({column}) FROM {db}.{table}")
        for column, table in (
            ("session_time", "sessions"), ("event_time", "events"), ("bucket_start", "session_counts")
        )
    ]  # fmt: skip
    assert times == [[(at // 1000,)], [(at // 1000,)], [((at - at % 3_600_000) // 1000,)]]


def test_a_record_twice_in_one_batch_is_stored_once(settings, clickhouse):
    """A rebalance while the sink gathers a batch rewinds a kept partition to its committed
    offset: the batch then holds the same records twice, both past the partition's bound."""
    topics = Topics(settings.topic_prefix)
    writer = ClickHouseWriter(clickhouse, topics, 5000)
    at = 1_731_672_000_000
    batch = session_batch(topics, 0, [f"{n + 77:064x}" for n in range(4)], at)
    result = writer.write(batch + batch[1:])
    assert (result.sessions, result.events, result.duplicates) == (4, 4, 3)
    db = settings.clickhouse_database
    assert clickhouse.execute(f"SELECT count(), uniqExact(session_id) FROM {db}.sessions") == [
        (4, 4)
    ]
    assert clickhouse.execute(f"SELECT count() FROM {db}.events") == [(4,)]


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


class CountingQueries:
    """The real ClickHouse adapter, counting the lookups the writer sends to it."""

    def __init__(self, clickhouse):
        self._ch = clickhouse
        self.database = clickhouse.database
        self.lookups: list[str] = []

    def execute(self, sql, params=None):
        if "sink_progress" not in sql:
            self.lookups.append(sql)
        return self._ch.execute(sql, params)

    def insert(self, table, columns, rows):
        self._ch.insert(table, columns, rows)


def ping_record(sid: str, at_ms: int) -> dict:
    return {**start_record(sid, at_ms), "event_type": "ping", "session_time_ms": None,
            "session_time_source": None, "org_id": None, "app_id": None, "params": {},
            "custom_metadata": {}}  # fmt: skip


def session_batch(topics, first_offset: int, sids: list[str], at: int, kind=start_record):
    return [
        ConsumedRecord(topics.media_events, 3, first_offset + i, sid.encode(),
                       codec.media_events().encode(kind(sid, at)))
        for i, sid in enumerate(sids)
    ]  # fmt: skip


def test_new_records_are_stored_without_lookups_and_a_new_sink_still_deduplicates(
    settings, clickhouse
):
    """Steady state: records past the partition's bound were never stored, so the writer
    sends no lookup for them (events get their org and app from sessions it saw). A new sink
    process (fresh writer) handed the same records back after a crash looks them up."""
    topics = Topics(settings.topic_prefix)
    spy = CountingQueries(clickhouse)
    writer = ClickHouseWriter(spy, topics, 5000)  # type: ignore[arg-type]
    at = 1_731_672_000_000
    sids = [f"{i:064x}" for i in range(1, 4)]
    starts = session_batch(topics, 0, sids, at)
    pings = session_batch(topics, 3, sids, at, ping_record)
    assert writer.write(starts).sessions == 3
    assert writer.write(pings).events == 3
    assert spy.lookups == []
    restarted = ClickHouseWriter(CountingQueries(clickhouse), topics, 5000)  # type: ignore[arg-type]
    again = restarted.write(starts + pings)
    assert (again.sessions, again.events, again.duplicates) == (0, 0, 9)
    db = settings.clickhouse_database
    assert clickhouse.execute(
        f"SELECT event_type, org_id, count() FROM {db}.events GROUP BY event_type, org_id "
        "ORDER BY event_type"
    ) == [("ping", "org'1", 3), ("sessionStart", "org'1", 3)]
    # A redelivered ping alone, to a sink that never saw its session: org and app looked up.
    late = ClickHouseWriter(clickhouse, topics, 5000)
    more = session_batch(topics, 6, sids[:1], at + 10_000, ping_record)
    assert late.write(more).events == 1
    assert clickhouse.execute(
        f"SELECT count() FROM {db}.events WHERE event_type = 'ping' AND org_id = 'org''1'"
    ) == [(4,)]


def test_a_bound_written_without_its_rows_costs_lookups_never_data(settings, clickhouse):
    """A crash between the bound and the rows: the redelivered records are below the bound,
    looked up, not found, and stored."""
    topics = Topics(settings.topic_prefix)
    at = 1_731_672_000_000
    batch = session_batch(topics, 0, [f"{i:064x}" for i in range(10, 15)], at)
    crashed = ClickHouseWriter(clickhouse, topics, 5000)
    crashed._mark_written(batch, at)
    spy = CountingQueries(clickhouse)
    result = ClickHouseWriter(spy, topics, 5000).write(batch)  # type: ignore[arg-type]
    assert (result.sessions, result.events, result.duplicates) == (5, 5, 0)
    assert spy.lookups, "records below the bound must be looked up"
    db = settings.clickhouse_database
    assert clickhouse.execute(f"SELECT count() FROM {db}.sessions") == [(5,)]


def test_a_session_past_the_identity_cache_gets_its_org_and_app_from_clickhouse(
    settings, clickhouse
):
    """The sink remembers the org and app of ``session_cache_size`` sessions; an event of an
    older one costs a lookup of its stored sessionStart, never a row without them."""
    topics = Topics(settings.topic_prefix)
    spy = CountingQueries(clickhouse)
    writer = ClickHouseWriter(spy, topics, 5000, identities_cached=2)  # type: ignore[arg-type]
    at = 1_731_672_000_000
    sids = [f"{i:064x}" for i in range(40, 43)]
    assert writer.write(session_batch(topics, 0, sids, at)).sessions == 3
    assert writer.write(session_batch(topics, 3, sids[1:], at, ping_record)).events == 2
    assert spy.lookups == []  # the two newest are remembered
    assert writer.write(session_batch(topics, 5, sids[:1], at, ping_record)).events == 1
    assert any("event_type = 'sessionStart'" in sql for sql in spy.lookups)
    db = settings.clickhouse_database
    assert clickhouse.execute(
        f"SELECT org_id, app_id, count() FROM {db}.events WHERE event_type = 'ping' "
        "GROUP BY org_id, app_id"
    ) == [("org'1", "app\\1", 3)]
