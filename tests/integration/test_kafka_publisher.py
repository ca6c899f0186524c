"""The Kafka adapter's ``Publisher`` on the real broker, under the concurrency of a busy edge:
records of many callers share record batches, and every acknowledged record is in the topic
once, at the offset it was given, in its caller's order."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer

from sessionflow.kafka import Publisher, ensure_topics

pytestmark = pytest.mark.anyio

CALLERS = 64
RECORDS_EACH = 250


async def read_all(settings, topic: str, want: int) -> list[tuple[int, int, bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    found: list[tuple[int, int, bytes, bytes]] = []
    try:
        for _ in range(60):
            for messages in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                found += [(m.partition, m.offset, m.key, m.value) for m in messages]
            if len(found) >= want:
                break
    finally:
        await consumer.stop()
    return found


async def test_concurrent_callers_share_batches_and_every_record_lands_once(settings):
    """64 callers publish back to back (as the edge's connections do under load): batches are
    drained while callers keep adding records, which must never break the idempotent
    producer's sequence numbers (the broker would refuse the partition's next batch)."""
    topic = settings.topic_prefix + "publisher"
    await ensure_topics(settings, [topic])
    publisher = Publisher(settings)
    await publisher.start()
    acknowledged: dict[bytes, tuple[int, int]] = {}

    async def publish(key: bytes, value: bytes) -> None:
        acknowledged[value] = await publisher.publish(topic, value, key=key)

    async def caller(n: int) -> None:
        # A new record every loop turn, without waiting for the previous one's acknowledgement
        # (as many connections do): records keep arriving while aiokafka drains batches.
        key = f"caller-{n}".encode()
        sent = []
        for i in range(RECORDS_EACH):
            sent.append(asyncio.create_task(publish(key, f"{n}:{i}".encode())))
            await asyncio.sleep(0)
        await asyncio.gather(*sent)

    try:
        await publisher.publish(topic, b"warm-up")  # the topic's metadata, once
        await asyncio.gather(*(caller(n) for n in range(CALLERS)))
    finally:
        await publisher.stop()

    stored = [r for r in await read_all(settings, topic, CALLERS * RECORDS_EACH + 1) if r[2]]
    assert len(stored) == CALLERS * RECORDS_EACH == len(acknowledged)
    assert {value: (p, o) for p, o, _, value in stored} == acknowledged
    by_key: dict[bytes, list[int]] = defaultdict(list)
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for partition, _, key, value in sorted(stored):
        by_key[key].append(int(value.split(b":")[1]))
        partitions_of_key[key].add(partition)
    assert all(order == list(range(RECORDS_EACH)) for order in by_key.values())
    assert all(len(parts) == 1 for parts in partitions_of_key.values())


async def test_a_key_goes_where_kafkas_default_partitioner_puts_it(settings):
    """Consumers and other producers (Java's murmur2 partitioner) agree on a session's
    partition with the edge."""
    from aiokafka.partitioner import DefaultPartitioner

    topic = settings.topic_prefix + "keyed"
    await ensure_topics(settings, [topic])
    publisher = Publisher(settings)
    await publisher.start()
    try:
        keys = [f"{n:064x}".encode() for n in range(50)]
        placed = [await publisher.publish(topic, b"v", key=key) for key in keys]
    finally:
        await publisher.stop()
    partitions = list(range(settings.topic_partitions))
    expected = [DefaultPartitioner()(key, partitions, partitions) for key in keys]
    assert [partition for partition, _ in placed] == expected
