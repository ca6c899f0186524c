"""Reading a range of the media-events topic directly, to count records Faust skipped."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from sessionflow.kafka import ConsumedRecord
from sessionflow.settings import Settings


class GapFiller:
    """A group-less consumer that returns the records of [start, end) of one partition."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None

    async def fetch(self, partition: int, start: int, end: int) -> list[ConsumedRecord]:
        if self._consumer is None:
            self._consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                group_id=None,
                enable_auto_commit=False,
            )
            await self._consumer.start()
        consumer = self._consumer
        tp = TopicPartition(self._topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        found: list[ConsumedRecord] = []
        while not found or found[-1].offset < end - 1:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                if start <= message.offset < end:
                    found.append(ConsumedRecord.of(message))
            if batch.get(tp) and batch[tp][-1].offset >= end - 1:
                break
        return found

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
