"""A flush's table changes sent to their changelogs as whole record batches.

Faust logs a table change with ``send_changelog``: a message object, a future and a callback per
change, through its producer buffer and aiokafka's per-record ``send``, and a write of the
store's persisted changelog offset when each record is acknowledged. Under real-time player
traffic almost every event changes a session's state that no other event changes within the
same flush, so that was paid per event. Here the changes of a flush (``streams.writeback``) go
out as aiokafka record batches of the already-serialized store bytes (``create_batch`` /
``send_batch``), and the persisted offset is written once per partition, after Kafka
acknowledged the partition's last record — what Faust's ``_on_changelog_sent`` does per record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from faust.types import TP

from streams.writeback import Changes


class ChangelogWriter:
    """Sends ``Changes`` to their table's changelog with the Faust app's own aiokafka producer
    (``producer()``), so they queue behind whatever Faust already handed it."""

    def __init__(self, producer: Callable[[], AIOKafkaProducer]) -> None:
        self._producer = producer

    async def write(self, changes: Changes) -> int:
        """Send ``changes`` and wait for Kafka's acknowledgement of every batch; then set the
        store's persisted offset of each partition. Raises what Kafka raised."""
        if not changes.by_partition:
            return 0
        producer = self._producer()
        topic: str = changes.table.changelog_topic.get_topic_name()
        sent: list[tuple[int, int, asyncio.Future[Any]]] = []  # partition, records, ack
        for partition, items in changes.by_partition.items():
            batch, records = producer.create_batch(), 0
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:  # full
                    sent.append((partition, records, await self._send(batch, topic, partition)))
                    batch, records = producer.create_batch(), 0
                    batch.append(key=key, value=value, timestamp=None)  # a batch takes its first
                records += 1
            sent.append((partition, records, await self._send(batch, topic, partition)))
        store = changes.table.data
        for partition, records, ack in sent:  # a partition's batches are acknowledged in order
            metadata = await ack
            store.set_persisted_offset(TP(topic, partition), metadata.offset + records - 1)
        return len(changes)

    async def _send(self, batch: Any, topic: str, partition: int) -> asyncio.Future[Any]:
        batch.close()  # aiokafka's own send() must not add records to it
        ack: asyncio.Future[Any] = await self._producer().send_batch(
            batch, topic, partition=partition
        )
        return ack
