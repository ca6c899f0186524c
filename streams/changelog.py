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
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaProducer
from faust.types import TP

from streams.writeback import Changes


async def _nothing_queued() -> None:
    return None


class ChangelogWriter:
    """Sends ``Changes`` to their table's changelog with the Faust app's own aiokafka producer
    (``producer()``). ``queued()`` is awaited first: it hands aiokafka what Faust still holds
    in its producer buffer (a closed session's tombstone), so a key's changelog records keep
    the order of its changes."""

    def __init__(
        self,
        producer: Callable[[], AIOKafkaProducer],
        queued: Callable[[], Awaitable[None]] = _nothing_queued,
    ) -> None:
        self._producer = producer
        self._queued = queued

    async def write(self, *tables: Changes) -> int:
        """Send the changes of each table and wait for Kafka's acknowledgement of every batch
        (all are sent before the first is awaited); then set each store's persisted offset of
        each partition. Raises what Kafka raised. Returns how many records were written."""
        await self._queued()
        producer = self._producer()
        sent: list[tuple[Any, TP, int, asyncio.Future[Any]]] = []  # store, tp, records, ack
        for changes in tables:
            topic: str = changes.table.changelog_topic.get_topic_name()
            for partition, items in changes.by_partition.items():
                tp = TP(topic, partition)
                batch, records = producer.create_batch(), 0
                for key, value in items:
                    if batch.append(key=key, value=value, timestamp=None) is None:  # full
                        ack = await self._send(producer, batch, tp)
                        sent.append((changes.table.data, tp, records, ack))
                        batch, records = producer.create_batch(), 0
                        batch.append(key=key, value=value, timestamp=None)  # always taken
                    records += 1
                ack = await self._send(producer, batch, tp)
                sent.append((changes.table.data, tp, records, ack))
        for store, tp, records, ack in sent:  # a partition's batches are acknowledged in order
            metadata = await ack
            store.set_persisted_offset(tp, metadata.offset + records - 1)
        return sum(len(changes) for changes in tables)

    @staticmethod
    async def _send(producer: AIOKafkaProducer, batch: Any, tp: TP) -> asyncio.Future[Any]:
        batch.close()  # aiokafka's own send() must not add records to it
        ack: asyncio.Future[Any] = await producer.send_batch(
            batch, tp.topic, partition=tp.partition
        )
        return ack
