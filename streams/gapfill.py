"""Reading a range of the media-events topic directly, to count records Faust skipped."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from sessionflow.settings import Settings


@dataclass(frozen=True)
class SourceRecord:
    """One media-events record as the counter needs it."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    timestamp_type: int


class GapFiller:
    """A group-less consumer that returns the records of [start, end) of one partition."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None

    async def fetch(self, partition: int, start: int, end: int) -> list[SourceRecord]:
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
        found: list[SourceRecord] = []
        while not found or found[-1].offset < end - 1:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                if start <= message.offset < end:
                    found.append(
                        SourceRecord(
                            message.partition,
                            message.offset,
                            message.key,
                            message.value,
                            message.timestamp,
                            message.timestamp_type,
                        )
                    )
            if batch.get(tp) and batch[tp][-1].offset >= end - 1:
                break
        return found

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
