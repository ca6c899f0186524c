"""The sink process: consume media events and count updates, write them in batches, then commit.

Offsets are committed only after ClickHouse took the batch, so a crash redelivers at most the
batch in flight, which the writer deduplicates. When ClickHouse is down the same batch is
retried until it lands; nothing is skipped. Records that can never be stored go to the
dead-letter topic (reason in headers) so the pipeline does not stall on them.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from schemas.topics import Topics
from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseUnavailable, KafkaUnavailable
from sessionflow.kafka import ConsumedRecord, Publisher, ensure_sessionflow_topics
from sessionflow.settings import Settings
from sessionflow.tables import ensure_tables
from sinks.writer import ClickHouseWriter, Rejected

logger = logging.getLogger(__name__)


class SinkRunner:
    """Consume → write → dead-letter the rejects → commit, until stopped."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topics = Topics(settings.topic_prefix)
        self._clickhouse = ClickHouse(settings, pool_size=2)
        self._writer = ClickHouseWriter(
            self._clickhouse, self._topics, settings.kafka_publish_timeout_ms
        )
        self._dead_letter = Publisher(settings)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask the loop to finish the batch in flight, commit and exit."""
        self._stopping.set()

    async def run(self) -> None:
        await asyncio.to_thread(self._clickhouse.wait_ready)
        await asyncio.to_thread(ensure_tables, self._clickhouse)
        await ensure_sessionflow_topics(self._settings)
        await self._dead_letter.start()
        consumer = AIOKafkaConsumer(
            self._topics.media_events,
            self._topics.session_counts,
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._settings.sink_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.sink_batch_max,
        )
        await consumer.start()
        logger.info("sink consuming %s", sorted(consumer.subscription()))
        try:
            while not self._stopping.is_set():
                fetched = await consumer.getmany(
                    timeout_ms=self._settings.sink_batch_wait_ms,
                    max_records=self._settings.sink_batch_max,
                )
                batch = [ConsumedRecord.of(m) for messages in fetched.values() for m in messages]
                if not batch:
                    continue
                await self._write_until_stored(batch)
                try:
                    await consumer.commit(
                        {tp: messages[-1].offset + 1 for tp, messages in fetched.items()}
                    )
                except KafkaError as exc:  # rebalanced away: the new owner redelivers, deduped
                    logger.warning("offset commit failed, batch will be redelivered: %r", exc)
        finally:
            await consumer.stop()
            await self._dead_letter.stop()
            self._clickhouse.close()
            logger.info("sink stopped")

    async def _write_until_stored(self, batch: list[ConsumedRecord]) -> None:
        delay = 0.2
        while True:
            try:
                result = await asyncio.to_thread(self._writer.write, batch)
                await self._reject(result.rejected)
                logger.debug(
                    "stored %d sessions, %d events, %d counts (%d duplicates skipped)",
                    result.sessions,
                    result.events,
                    result.counts,
                    result.duplicates,
                )
                return
            except (ClickHouseUnavailable, KafkaUnavailable) as exc:
                logger.warning(
                    "batch of %d not stored yet, retrying in %.1fs: %s", len(batch), delay, exc
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _reject(self, rejected: list[Rejected]) -> None:
        for item in rejected:
            logger.warning(
                "dead-lettering %s/%d@%d: %s",
                item.record.topic,
                item.record.partition,
                item.record.offset,
                item.reason,
            )
            await self._dead_letter.publish(
                self._topics.dead_letter,
                item.record.value,
                key=item.record.key,
                headers=[
                    ("reason", item.reason.encode()),
                    ("detail", item.detail.encode()[:1000]),
                    (
                        "source",
                        f"{item.record.topic}/{item.record.partition}/"
                        f"{item.record.offset}".encode(),
                    ),
                ],
            )


def run_sink(settings: Settings) -> None:
    """Run the sink until SIGTERM or SIGINT; then finish the batch in flight and commit."""
    runner = SinkRunner(settings)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        await runner.run()

    try:
        asyncio.run(main())
    except KafkaError as exc:
        raise KafkaUnavailable(str(exc)) from exc


__all__ = ["SinkRunner", "run_sink"]
