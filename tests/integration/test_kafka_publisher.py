"""The Kafka adapter's ``Publisher`` on the real broker, under the concurrency of a busy edge:
records of many callers share record batches, and every acknowledged record is in the topic
once, at the offset it was given, in its caller's order."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner

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


async def test_a_linger_gathers_records_arriving_one_by_one_into_one_batch(settings):
    """Real-time traffic: records arrive one by one, milliseconds apart. With
    ``kafka_linger_ms`` a batch waits that long for more before it is sent, so they share one
    produce request (``sessionflow_kafka_batch_records``), and each is still acknowledged at
    its own offset."""
    from prometheus_client import REGISTRY

    lingering = settings.model_copy(
        update={"kafka_linger_ms": 300, "kafka_batch_ready_bytes": 64_000}
    )
    topic = settings.topic_prefix + "lingering"
    await ensure_topics(settings, [topic])
    publisher = Publisher(lingering)
    await publisher.start()

    def batches() -> float:
        found = REGISTRY.get_sample_value("sessionflow_kafka_batch_records_count", {"topic": topic})
        return found or 0.0

    try:
        await publisher.publish(topic, b"warm-up", key=b"viewer")  # the topic's metadata, once
        before = batches()
        sent = []
        for n in range(20):  # one every 5 ms, all within the linger
            sent.append(asyncio.create_task(publisher.publish(topic, b"%d" % n, key=b"viewer")))
            await asyncio.sleep(0.005)
        placed = await asyncio.gather(*sent)
    finally:
        await publisher.stop()
    assert batches() - before == 1
    offsets = [offset for _, offset in placed]
    assert offsets == list(range(offsets[0], offsets[0] + 20))


async def test_batches_of_every_partition_linger_together(settings):
    """Real-time traffic spreads over the partitions: a batch opened for another partition
    while one lingers goes when the first one's linger ends, with it (one produce request for
    both), not after a linger of its own."""
    linger_s = 2.0
    lingering = settings.model_copy(
        update={"kafka_linger_ms": int(linger_s * 1000), "kafka_batch_ready_bytes": 64_000}
    )
    topic = settings.topic_prefix + "lingering-together"
    await ensure_topics(settings, [topic])
    publisher = Publisher(lingering)
    await publisher.start()
    loop = asyncio.get_running_loop()
    answered: dict[int, float] = {}

    async def publish(key: bytes) -> int:
        partition, _ = await publisher.publish(topic, b"v", key=key)
        answered[partition] = loop.time()
        return partition

    try:
        await publisher.publish(topic, b"warm-up", urgent=True)  # the topic's metadata, once
        partitions = list(range(settings.topic_partitions))
        by_partition: dict[int, bytes] = {}
        for n in range(50):  # a key for each of two partitions
            key = f"viewer-{n}".encode()
            by_partition.setdefault(DefaultPartitioner()(key, partitions, partitions), key)
        first_key, second_key = list(by_partition.values())[:2]
        began = loop.time()
        first = asyncio.create_task(publish(first_key))
        await asyncio.sleep(linger_s / 2)
        second_began = loop.time()
        second = asyncio.create_task(publish(second_key))
        await asyncio.wait_for(asyncio.gather(first, second), timeout=30)
    finally:
        await publisher.stop()
    first_partition, second_partition = first.result(), second.result()
    assert first_partition != second_partition
    assert answered[first_partition] - began >= linger_s * 0.9  # it lingered
    # The second went with the first, half a linger after it was published (not a whole one).
    assert answered[second_partition] - second_began < linger_s * 0.8
    assert abs(answered[second_partition] - answered[first_partition]) < linger_s * 0.2


async def test_a_batch_lingering_when_the_producer_is_replaced_goes_with_the_new_one(settings):
    """After a fatal producer error (``FATAL_PRODUCER_ERRORS``, seen after a broker restart)
    the publisher replaces its producer; a batch lingering then is sent by the new one at once,
    not left without a linger to end it (its caller would wait forever)."""
    topic = settings.topic_prefix + "replaced"
    await ensure_topics(settings, [topic])
    publisher = Publisher(settings.model_copy(update={"kafka_linger_ms": 600_000}))
    await publisher.start()
    try:
        await publisher.publish(topic, b"warm-up", key=b"viewer", urgent=True)
        pending = asyncio.create_task(publisher.publish(topic, b"lingering", key=b"viewer"))
        await asyncio.sleep(0.1)
        assert not pending.done()
        publisher._schedule_reset()  # what a fatal producer error does
        partition, offset = await asyncio.wait_for(pending, timeout=30)
    finally:
        await publisher.stop()
    stored = [(p, o, v) for p, o, _, v in await read_all(settings, topic, 2)]
    assert (partition, offset, b"lingering") in stored


async def test_a_batch_holding_enough_goes_before_its_linger_ends(settings):
    """Heavy traffic: a batch that holds ``kafka_batch_ready_bytes`` is sent at once, the
    linger adds nothing to its records' answers."""
    hurried = settings.model_copy(update={"kafka_linger_ms": 1000, "kafka_batch_ready_bytes": 2048})
    topic = settings.topic_prefix + "ready"
    await ensure_topics(settings, [topic])
    publisher = Publisher(hurried)
    await publisher.start()
    try:
        await publisher.publish(topic, b"warm-up", key=b"viewer")
        began = asyncio.get_running_loop().time()
        await asyncio.gather(
            *(publisher.publish(topic, b"x" * 200, key=b"viewer") for _ in range(20))
        )
        took = asyncio.get_running_loop().time() - began
    finally:
        await publisher.stop()
    assert took < 0.5


async def test_stopping_sends_the_batches_still_lingering(settings):
    """A lingering batch is not left behind at shutdown: its callers get their answers."""
    patient = settings.model_copy(update={"kafka_linger_ms": 1000})
    topic = settings.topic_prefix + "stopping"
    await ensure_topics(settings, [topic])
    publisher = Publisher(patient)
    await publisher.start()
    await publisher.publish(topic, b"warm-up", key=b"viewer")
    pending = asyncio.create_task(publisher.publish(topic, b"last", key=b"viewer"))
    await asyncio.sleep(0.05)
    assert not pending.done()
    await publisher.stop()
    assert pending.done()
    assert (await pending)[1] == 1


async def test_an_urgent_record_sends_its_batch_without_the_linger(settings):
    """Records a caller sends together (a downloaded session): they join one lingering batch,
    and the last one, urgent, sends it at once — with a linger far longer than the test."""
    topic = settings.topic_prefix + "urgent"
    await ensure_topics(settings, [topic])
    lingering = {"kafka_linger_ms": 600_000, "kafka_batch_ready_bytes": 10**6}
    publisher = Publisher(settings.model_copy(update=lingering))
    await publisher.start()
    try:
        await publisher.publish(topic, b"warm-up", urgent=True)  # the topic's metadata, once
        together = [
            asyncio.create_task(publisher.publish(topic, b"%d" % i, key=b"k", urgent=i == 9))
            for i in range(10)
        ]
        done = await asyncio.wait_for(asyncio.gather(*together), timeout=30)
    finally:
        await publisher.stop()
    partition = done[0][0]
    assert [offset for _, offset in done] == list(range(done[0][1], done[0][1] + 10))
    stored = [v for p, _, _, v in await read_all(settings, topic, 11) if p == partition]
    assert stored[-10:] == [b"%d" % i for i in range(10)]
