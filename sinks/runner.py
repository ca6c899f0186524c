"""The sink process: consume media events and count updates, write them in batches, then commit.

Two speeds: count updates (what ``data_series`` reads) are stored batch by batch, every
``sink_batch_linger_ms``; media events and QoE summaries are held and stored together at most
every ``sink_store_interval_ms``, so ClickHouse gets a part in ``events``, ``sessions``,
``session_summaries`` and their views every couple of seconds, not at every batch — or at
once when a segment marker arrives (defining a segment waits for the sink to pass it).

Offsets are committed only after ClickHouse took the records, so a crash redelivers at most
what was held or in flight, which the writer deduplicates. When ClickHouse is down the same
records are retried until they land; nothing is skipped. When ClickHouse refuses a batch (its
data, not its availability), the batch is split in halves, in order, until the records it
refuses are alone; those go to the dead-letter topic (reason ``unstorable``) and everything
else lands. Records that cannot even be decoded are dead-lettered at once. No batch can stall
the sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from functools import partial

import uvloop

from schemas import codec
from sessionflow import garbage, kafka, metrics
from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseRejected, ClickHouseUnavailable, KafkaUnavailable
from sessionflow.kafka import GroupConsumer, Publisher, ensure_sessionflow_topics
from sessionflow.ops import OpsServer
from sessionflow.records import ConsumedRecord, DeadLetter
from sessionflow.settings import Settings
from sessionflow.tables import ensure_tables
from sessionflow.topics import Topics
from sinks.writer import ClickHouseWriter, WriteResult

logger = logging.getLogger(__name__)


def _is_marker(record: ConsumedRecord, events_topic: str) -> bool:
    """A segment's start or stop marker: the read API waits for the sink to have stored every
    record before it (``readapi.segments``), so held records are stored at once then, not at
    the next interval."""
    return record.topic == events_topic and codec.is_segment_marker(record.value)


class SinkRunner:
    """Consume → write → dead-letter the rejects → commit, until stopped."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._topics = Topics(settings.topic_prefix)
        self._clickhouse = ClickHouse(settings, pool_size=3)  # counts, held records, /ready
        self._writer = ClickHouseWriter(
            self._clickhouse,
            self._topics,
            settings.kafka_publish_timeout_ms,
            settings.session_cache_size,
        )
        self._dead_letter = Publisher(settings)
        self._stopping = asyncio.Event()
        self._ops = OpsServer(
            settings.ops_host,
            settings.sink_ops_port,
            {
                "kafka": partial(kafka.probe, settings),
                "clickhouse": partial(asyncio.to_thread, self._clickhouse.ping),
            },
        )

    def stop(self) -> None:
        """Ask the loop to store the batch in flight and what it holds, commit and exit."""
        self._stopping.set()

    async def run(self) -> None:
        await self._ops.start()
        if not await self._clickhouse_answers():
            await self._ops.stop()
            return
        await asyncio.to_thread(ensure_tables, self._clickhouse)
        await ensure_sessionflow_topics(self._settings)
        await self._dead_letter.start()
        consumer = GroupConsumer(
            self._settings,
            self._settings.sink_group,
            (
                self._topics.media_events,
                self._topics.session_counts,
                self._topics.session_summaries,
            ),
            self._settings.sink_batch_max,
        )
        await consumer.start()
        counts_topic = self._topics.session_counts
        events_topic = self._topics.media_events
        interval = self._settings.sink_store_interval_ms / 1000
        held: list[ConsumedRecord] = []  # events and summaries not stored yet
        held_since = 0.0
        # Held records are stored in the background, one store at a time, so that counts keep
        # landing batch by batch meanwhile (the writer shares nothing else between the two).
        storing: asyncio.Task[None] | None = None
        try:
            while not self._stopping.is_set():
                batch = await self._gather(consumer)
                await self._observe(consumer, batch)
                counts = [record for record in batch if record.topic == counts_topic]
                if counts:
                    await self._store(consumer, counts)
                if not held:
                    held_since = time.monotonic()
                held += [record for record in batch if record.topic != counts_topic]
                metrics.SINK_HELD.set(len(held))
                if held and (
                    len(held) >= self._settings.sink_store_max
                    or time.monotonic() - held_since >= interval
                    or any(_is_marker(record, events_topic) for record in batch)
                ):
                    if storing is not None:
                        await storing
                    storing = asyncio.create_task(self._store(consumer, held))
                    held = []
                    metrics.SINK_HELD.set(0)
            if storing is not None:  # asked to stop: store what is held, commit, leave
                await storing
            if held:
                await self._store(consumer, held)
        finally:
            if storing is not None and not storing.done():
                storing.cancel()  # not committed: redelivered to whoever consumes next
            await consumer.stop()
            await self._dead_letter.stop()
            self._clickhouse.close()
            await self._ops.stop()
            logger.info("sink stopped")

    async def _store(self, consumer: GroupConsumer, records: list[ConsumedRecord]) -> None:
        """Write ``records`` until stored, then commit past them."""
        await self._write_until_stored(records)
        try:
            await consumer.commit(records)
        except KafkaUnavailable as exc:  # rebalanced away: the new owner redelivers
            logger.warning("offset commit failed, records will be redelivered: %s", exc)

    async def _gather(self, consumer: GroupConsumer) -> list[ConsumedRecord]:
        """A batch: the first records within ``sink_batch_wait_ms``, then whatever else comes
        within ``sink_batch_linger_ms``, at most ``sink_batch_max`` records."""
        settings = self._settings
        batch = await consumer.fetch(settings.sink_batch_wait_ms)
        until = time.monotonic() + settings.sink_batch_linger_ms / 1000
        while batch and len(batch) < settings.sink_batch_max and not self._stopping.is_set():
            left_ms = int((until - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            batch += await consumer.fetch(left_ms, settings.sink_batch_max - len(batch))
        return batch

    async def _clickhouse_answers(self) -> bool:
        """Wait for ClickHouse (``/ready`` says what is missing meanwhile); ``False`` if the
        sink was asked to stop first."""
        waiting_since: float | None = None
        while not self._stopping.is_set():
            try:
                await asyncio.to_thread(self._clickhouse.ping)
            except ClickHouseUnavailable as exc:
                if waiting_since is None:
                    waiting_since = time.monotonic()
                    logger.warning("waiting for clickhouse: %s", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 1.0)
                continue
            if waiting_since is not None:
                logger.info("clickhouse answers after %.1f s", time.monotonic() - waiting_since)
            return True
        return False

    @staticmethod
    async def _observe(consumer: GroupConsumer, batch: list[ConsumedRecord]) -> None:
        for topic, count in Counter(record.topic for record in batch).items():
            metrics.RECORDS_CONSUMED.labels("sink", topic).inc(count)
        for (topic, partition), lag in (await consumer.lag()).items():
            metrics.CONSUMER_LAG.labels("sink", topic, str(partition)).set(lag)

    async def _write_until_stored(self, batch: list[ConsumedRecord]) -> None:
        """Store ``batch``, splitting it around records ClickHouse refuses (dead-lettered)."""
        parts = [batch]
        split_logged = False
        while parts:
            part = parts.pop(0)
            try:
                result = await self._write_retrying(part)
            except ClickHouseRejected as exc:
                if len(part) == 1:
                    (item,) = part
                    await self._reject([DeadLetter(item, "unstorable", str(exc))])
                    continue
                if not split_logged:
                    logger.warning(
                        "clickhouse refused a batch of %d records (%s); splitting it to isolate "
                        "the records it refuses",
                        len(batch),
                        exc,
                    )
                    split_logged = True
                half = len(part) // 2
                parts[:0] = [part[:half], part[half:]]
                continue
            metrics.SINK_DUPLICATES.inc(result.duplicates)
            logger.debug(
                "stored %d sessions, %d events, %d counts (%d duplicates skipped)",
                result.sessions,
                result.events,
                result.counts,
                result.duplicates,
            )

    async def _write_retrying(self, batch: list[ConsumedRecord]) -> WriteResult:
        """Write ``batch`` until it lands, waiting out outages (logged once, then on recovery);
        ``ClickHouseRejected`` goes to the caller."""
        delay = 0.2
        failing_since: float | None = None
        while True:
            try:
                result = await asyncio.to_thread(self._writer.write, batch)
                await self._reject(result.rejected)
            except (ClickHouseUnavailable, KafkaUnavailable) as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    logger.warning(
                        "batch of %d not stored yet, retrying every %.1f-5 s until it is: %s",
                        len(batch),
                        delay,
                        exc,
                    )
                else:
                    logger.debug("batch of %d still not stored: %s", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if failing_since is not None:
                logger.info(
                    "batch of %d stored after %.1f s of retries",
                    len(batch),
                    time.monotonic() - failing_since,
                )
            return result

    async def _reject(self, rejected: list[DeadLetter]) -> None:
        """Dead-letter ``rejected`` together: one batch (and one wait for the producer's linger)
        for all of them, not one each."""
        sends = []
        for letter in rejected:
            metrics.RECORDS_DEAD_LETTERED.labels("sink", letter.reason).inc()
            record = letter.record
            logger.warning(
                "dead-lettering %s: %s",
                record.source,
                letter.reason,
                extra={
                    "partition": record.partition,
                    "offset": record.offset,
                    "topic": record.topic,
                },
            )
            sends.append(
                self._dead_letter.publish(
                    self._topics.dead_letter,
                    letter.record.value,
                    key=letter.record.key,
                    headers=letter.headers(),
                )
            )
        await asyncio.gather(*sends)


def run_sink(settings: Settings) -> None:
    """Run the sink until SIGTERM or SIGINT; then finish the batch in flight and commit."""
    runner = SinkRunner(settings)
    garbage.tune(settings.gc_threshold)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        await runner.run()

    # uvloop, as the edge, the API (uvicorn) and the worker (Faust) run on.
    uvloop.run(main())


__all__ = ["SinkRunner", "run_sink"]
