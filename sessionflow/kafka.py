"""The Kafka adapter: topic creation and an acks=all producer, with aiokafka's errors
translated into ``KafkaUnavailable``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sessionflow.errors import KafkaUnavailable
from sessionflow.settings import Settings

logger = logging.getLogger(__name__)


async def ensure_topics(settings: Settings, names: Sequence[str], wait_s: float = 60.0) -> None:
    """Create ``names`` with the configured partition count unless they exist (idempotent)."""
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(wait_s),
        wait=wait_fixed(1),
        retry=retry_if_exception_type((KafkaError, OSError)),
        reraise=True,
    ):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                missing = [
                    NewTopic(name, settings.topic_partitions, 1)
                    for name in names
                    if name not in existing
                ]
                if missing:
                    with contextlib.suppress(TopicAlreadyExistsError):
                        await admin.create_topics(missing)
                    logger.info("created topics %s", [t.name for t in missing])
            finally:
                await admin.close()


class Publisher:
    """An idempotent acks=all producer: ``publish`` returns only once Kafka has the record."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None

    async def start(self, wait_s: float = 60.0) -> None:
        async for attempt in AsyncRetrying(
            stop=stop_after_delay(wait_s),
            wait=wait_fixed(1),
            retry=retry_if_exception_type((KafkaError, OSError)),
            reraise=True,
        ):
            with attempt:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=1,
                    request_timeout_ms=self._settings.kafka_publish_timeout_ms,
                    retry_backoff_ms=100,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        timestamp_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> tuple[int, int]:
        """Write one record and wait for acks=all; return its (partition, offset)."""
        if self._producer is None:
            raise KafkaUnavailable("producer not started", self._settings.retry_after_seconds)
        try:
            meta = await self._producer.send_and_wait(
                topic,
                value=value,
                key=key,
                timestamp_ms=timestamp_ms,
                headers=list(headers) if headers else None,
            )
        except KafkaError as exc:
            logger.warning("kafka did not take a record for %s: %r", topic, exc)
            raise KafkaUnavailable(
                "the event store is unavailable", self._settings.retry_after_seconds
            ) from exc
        return meta.partition, meta.offset

    async def stop(self) -> None:
        """Flush what is pending and close."""
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()
