"""The worker's write-back on the real broker and a real RocksDB store: a flush's changes reach
the table's changelog as record batches, in bytes Faust's recovery reads back to the same
values, and the store's persisted changelog offset is the partition's last record."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaProducer
from faust.types import TP

from sessionflow.kafka import ensure_topics
from streams.changelog import ChangelogWriter
from streams.writeback import WriteBack
from tests.integration.test_kafka_publisher import read_all

pytestmark = pytest.mark.anyio

KEYS = 3000  # ~300-byte values: many batches per partition at aiokafka's 16 KB batch size


async def test_a_flush_lands_in_the_changelog_once_with_the_store_offsets(settings, tmp_path: Path):
    app = faust.App(
        settings.topic_prefix + "changelog-test",
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",
        datadir=str(tmp_path),
    )
    table = app.Table("states", default=dict, partitions=settings.topic_partitions, key_type=str)
    topic = table.changelog_topic.get_topic_name()
    await ensure_topics(settings, [topic])
    states = WriteBack(table, max_cached=100)
    expected: dict[str, tuple[int, dict[str, object]]] = {}
    for round_ in range(2):  # the second round changes every value again: the latest one lands
        for n in range(KEYS):
            partition, value = (
                n % settings.topic_partitions,
                {"n": n, "round": round_, "pad": "x" * 280},
            )
            states.put(partition, f"session-{n}", value)
            expected[f"session-{n}"] = (partition, value)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    queued: list[int] = []  # Faust's buffered table writes are handed over before the batches

    async def hand_over_queued() -> None:
        queued.append(len(producer._message_accumulator._batches))

    await producer.start()
    try:
        written = await ChangelogWriter(lambda: producer, hand_over_queued).write(states.flush())
    finally:
        await producer.stop()
    assert written == KEYS and queued == [0]  # called once, before any batch was queued
    records = await read_all(settings, topic, KEYS)
    store = table.data
    landed = {
        store._decode_key(key): (partition, store._decode_value(value))
        for partition, _, key, value in records
    }
    assert len(records) == KEYS and landed == expected
    for partition in range(settings.topic_partitions):
        last = max(offset for p, offset, _, _ in records if p == partition)
        assert store.persisted_offset(TP(topic, partition)) == last
    assert store["session-7"] == expected["session-7"][1]  # the local store has them too
