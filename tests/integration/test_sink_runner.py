"""The sink process loop on the real Kafka and ClickHouse: records ClickHouse refuses are
isolated by splitting the batch and dead-lettered; everything else lands, and the log says so
once per batch, not on every retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from prometheus_client import REGISTRY

from schemas import codec
from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseUnavailable
from sessionflow.kafka import committed_offsets, ensure_sessionflow_topics
from sessionflow.segments import Segment
from sessionflow.topics import Topics
from sinks.runner import SinkRunner
from tests.backlog import write_backlog

pytestmark = pytest.mark.anyio

POISON = {60 * 3, 60 * 41, 60 * 150}  # record indexes (sessionStarts) made unstorable


def poison(index: int, record: dict) -> dict:
    # A value the column's Enum does not have: the driver refuses the whole block, every time.
    if index in POISON and record["event_type"] == "sessionStart":
        return {**record, "session_time_source": "satellite"}
    return record


async def dead_letters(settings, want: int, wait_s: float = 60) -> list[dict[str, bytes]]:
    consumer = AIOKafkaConsumer(
        Topics(settings.topic_prefix).dead_letter, bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    found: list[dict[str, bytes]] = []
    deadline = time.monotonic() + wait_s
    try:
        while len(found) < want and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += [dict(m.headers) for m in messages]
    finally:
        await consumer.stop()
    return found


async def test_refused_records_are_isolated_and_the_rest_lands(settings, caplog):
    caplog.set_level(logging.INFO, logger="sinks.runner")
    await ensure_sessionflow_topics(settings)
    # 170 sessions of 60 records: 10,200 records, full batches of 5,000 behind the sink.
    backlog = await write_backlog(settings, "org", ("app",), sessions=170, mutate=poison, seed=3)
    poisoned = {backlog.sessions[i // 60][0] for i in POISON}
    assert len(poisoned) == 3
    runner = SinkRunner(settings)
    task = asyncio.create_task(runner.run())
    clickhouse = ClickHouse(settings, pool_size=1)
    db = settings.clickhouse_database
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                stored = (await clickhouse.aexecute(f"SELECT count() FROM {db}.events"))[0][0]
            except ClickHouseUnavailable:  # the runner has not created its tables yet
                stored = 0
            if stored >= backlog.records - 3 * 60 or task.done():
                break
            await asyncio.sleep(0.5)
        letters = await dead_letters(settings, 3)
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
    sessions = await clickhouse.aexecute(f"SELECT session_id FROM {db}.sessions")
    # Every record of the other sessions landed. (Rows of a refused record written before the
    # refusal may stay; its dead letter carries it whole, and a replay is deduplicated.)
    healthy = (
        await clickhouse.aexecute(
            f"SELECT count(), uniqExact(source_partition, source_offset) FROM {db}.events "
            f"WHERE session_id NOT IN %(poisoned)s",
            {"poisoned": tuple(poisoned)},
        )
    )[0]
    clickhouse.close()
    assert {s for (s,) in sessions} == {sid for sid, _, _ in backlog.sessions} - poisoned
    assert healthy == (backlog.records - 3 * 60, backlog.records - 3 * 60)
    assert [h["reason"] for h in letters] == [b"unstorable"] * 3
    assert all(b"Enum8" in h["detail"] or b"satellite" in h["detail"] for h in letters)
    splits = [r for r in caplog.records if "splitting it" in r.getMessage()]
    assert 1 <= len(splits) <= 3  # once per refused batch


def count_record(org: str, app: str, at_ms: int, count: int, version: int) -> bytes:
    return codec.session_counts().encode(
        {"org_id": org, "app_id": app, "segment_id": "", "unit": "hour",
         "bucket_start_ms": at_ms - at_ms % 3_600_000, "source_partition": 0, "count": count,
         "version": version}
    )  # fmt: skip


async def test_counts_are_stored_at_once_events_when_held_long_enough_or_at_stop(settings):
    """Counts (what data_series reads) land batch by batch; events are held for
    ``sink_store_interval_ms`` and land together — here an interval longer than the test, so
    they land only when the sink is stopped, which stores what it holds and commits it."""
    holding = settings.model_copy(update={"sink_store_interval_ms": 600_000})
    await ensure_sessionflow_topics(holding)
    backlog = await write_backlog(holding, "org", ("app",), sessions=20, seed=5)
    topics = Topics(holding.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=holding.kafka_bootstrap, acks="all")
    await producer.start()
    at = int(time.time() * 1000)
    try:
        for version in range(1, 4):
            await producer.send_and_wait(
                topics.session_counts, count_record("org", "app", at, 20, version), key=b"k"
            )
    finally:
        await producer.stop()
    runner = SinkRunner(holding)
    task = asyncio.create_task(runner.run())
    clickhouse = ClickHouse(holding, pool_size=1)
    db = holding.clickhouse_database
    counted: list[tuple[int]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not task.done():
            with contextlib.suppress(ClickHouseUnavailable):  # tables not created yet
                counted = await clickhouse.aexecute(
                    f"SELECT sum(sessions) FROM {db}.session_counts_current"
                )
            if counted == [(20,)]:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # three more batches' lingers: the events are still held
        events_while_held = (await clickhouse.aexecute(f"SELECT count() FROM {db}.events"))[0]
        held = REGISTRY.get_sample_value("sessionflow_sink_held_records")
    finally:
        runner.stop()
        await asyncio.wait_for(task, 60)
    stored = (
        await clickhouse.aexecute(
            f"SELECT count(), uniqExact(source_partition, source_offset) FROM {db}.events"
        )
    )[0]
    sessions = (await clickhouse.aexecute(f"SELECT count() FROM {db}.sessions"))[0][0]
    clickhouse.close()
    committed = await committed_offsets(holding, holding.sink_group, topics.media_events)
    assert counted == [(20,)]
    assert events_while_held == (0,)
    assert held == backlog.records  # what /metrics says the sink holds
    assert stored == (backlog.records, backlog.records)
    assert sessions == 20
    assert sum(committed.values()) == backlog.records


async def test_a_segment_marker_has_the_held_records_stored_at_once(settings):
    """Defining a segment waits for the sink to have stored every record before its markers
    (readapi.segments): a marker has the sink store what it holds without waiting out the
    interval — here one longer than the test."""
    holding = settings.model_copy(update={"sink_store_interval_ms": 600_000})
    await ensure_sessionflow_topics(holding)
    backlog = await write_backlog(holding, "org", ("app",), sessions=10, seed=9)
    topics = Topics(holding.topic_prefix)
    marker = Segment("org", "gold", 1, None, "{}").marker("start")
    producer = AIOKafkaProducer(bootstrap_servers=holding.kafka_bootstrap, acks="all")
    await producer.start()
    runner = SinkRunner(holding)
    task = asyncio.create_task(runner.run())
    clickhouse = ClickHouse(holding, pool_size=1)
    db = holding.clickhouse_database
    try:
        await asyncio.sleep(3)  # the sink fetched the backlog and holds it
        await producer.send_and_wait(
            topics.media_events, codec.segment_markers().encode(marker), partition=0
        )
        committed: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and sum(committed.values()) < backlog.records + 1:
            await asyncio.sleep(0.2)
            committed = await committed_offsets(holding, holding.sink_group, topics.media_events)
        stored = (await clickhouse.aexecute(f"SELECT count() FROM {db}.events"))[0][0]
    finally:
        await producer.stop()
        runner.stop()
        await asyncio.wait_for(task, 60)
        clickhouse.close()
    assert sum(committed.values()) == backlog.records + 1  # past the marker
    assert stored == backlog.records


def events_inserts() -> float:
    return (
        REGISTRY.get_sample_value(
            "sessionflow_clickhouse_insert_duration_seconds_count", {"table": "events"}
        )
        or 0.0
    )


async def test_events_arriving_for_seconds_are_stored_in_a_few_inserts(settings):
    """Sessions' events trickling in for 3 s, as live players' requests do: the sink stores
    them in about one insert per ``sink_store_interval_ms``, not one per batch (a batch every
    ``sink_batch_linger_ms``, 500 ms), and every one exactly once."""
    paced = settings.model_copy(update={"sink_store_interval_ms": 1500})
    await ensure_sessionflow_topics(paced)
    before = events_inserts()
    runner = SinkRunner(paced)
    task = asyncio.create_task(runner.run())
    records = 0
    clickhouse = ClickHouse(paced, pool_size=1)
    try:
        started = time.monotonic()
        seed = 0
        while time.monotonic() - started < 3:
            written = await write_backlog(
                paced, "org", ("app",), sessions=1, events_per_session=4, seed=seed
            )
            records += written.records
            seed += 1
            await asyncio.sleep(0.05)
        db = paced.clickhouse_database
        deadline = time.monotonic() + 60
        stored: tuple[int, int] = (0, 0)
        while time.monotonic() < deadline and stored[0] < records:
            with contextlib.suppress(ClickHouseUnavailable):  # tables not created yet
                stored = (
                    await clickhouse.aexecute(
                        f"SELECT count(), uniqExact(source_partition, source_offset) "
                        f"FROM {db}.events"
                    )
                )[0]
            await asyncio.sleep(0.2)
    finally:
        clickhouse.close()
        runner.stop()
        await asyncio.wait_for(task, 60)
    made = events_inserts() - before
    assert stored == (records, records)
    # ~3 s of arrivals (six batches' lingers at least) at one insert per 1.5 s, and the rest's
    assert seed >= 3, "sessions kept arriving across several batches"
    assert 1 <= made <= 4, f"{made} inserts of {records} records from {seed} writes"
