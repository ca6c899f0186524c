"""The sink process loop on the real Kafka and ClickHouse: records ClickHouse refuses are
isolated by splitting the batch and dead-lettered; everything else lands, and the log says so
once per batch, not on every retry."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from aiokafka import AIOKafkaConsumer

from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseUnavailable
from sessionflow.kafka import ensure_sessionflow_topics
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
