"""The Kafka adapter, the only module that talks to aiokafka: topic creation, an acks=all
producer, a consumer in a group, a range reader and consumer-group offsets, with aiokafka's
errors translated into ``KafkaUnavailable``. Consumers hand out ``ConsumedRecord``.

(The worker's Faust app reaches Kafka through Faust's own aiokafka driver.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    TopicAlreadyExistsError,
    UnknownProducerId,
)
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sessionflow import metrics
from sessionflow.acceptance import LOG_APPEND_TIME
from sessionflow.errors import KafkaUnavailable
from sessionflow.records import ConsumedRecord
from sessionflow.settings import Settings
from sessionflow.topics import Topics

logger = logging.getLogger(__name__)


def _of(message: Any) -> ConsumedRecord:
    """From an aiokafka ``ConsumerRecord``."""
    return ConsumedRecord(
        message.topic, message.partition, message.offset, message.key, message.value,
        message.timestamp, message.timestamp_type,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _translated(what: str, retry_after: int = 1) -> AsyncIterator[None]:
    """Raise aiokafka's errors (and socket errors) as ``KafkaUnavailable``."""
    try:
        yield
    except (KafkaError, OSError) as exc:
        raise KafkaUnavailable(f"{what}: {exc!r}", retry_after) from exc


def _until_reachable(wait_s: float) -> AsyncRetrying:
    """Retry a Kafka call every second while the cluster cannot be reached, for ``wait_s``."""
    return AsyncRetrying(
        stop=stop_after_delay(wait_s),
        wait=wait_fixed(1),
        retry=retry_if_exception_type((KafkaError, OSError)),
        reraise=True,
    )


async def ensure_topics(
    settings: Settings,
    names: Sequence[str],
    wait_s: float = 60.0,
    configs: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Create ``names`` with the configured partition count (and ``configs[name]``) unless they
    exist (idempotent); ``KafkaUnavailable`` if the cluster stays unreachable for ``wait_s``."""
    async with _translated("the event store is unavailable", settings.retry_after_seconds):
        await _create_missing(settings, names, wait_s, configs or {})


async def _create_missing(
    settings: Settings,
    names: Sequence[str],
    wait_s: float,
    configs: Mapping[str, Mapping[str, str]],
) -> None:
    async for attempt in _until_reachable(wait_s):
        with attempt:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
            await admin.start()
            try:
                existing = set(await admin.list_topics())
                missing = [
                    NewTopic(
                        name,
                        settings.topic_partitions,
                        1,
                        topic_configs=dict(configs.get(name, {})),
                    )
                    for name in names
                    if name not in existing
                ]
                if missing:
                    with contextlib.suppress(TopicAlreadyExistsError):
                        await admin.create_topics(missing)
                    logger.info("created topics %s", [t.name for t in missing])
            finally:
                await admin.close()


async def ensure_sessionflow_topics(settings: Settings, wait_s: float = 60.0) -> None:
    """Create every topic sessionflow owns, with its configs (idempotent)."""
    topics = Topics(settings.topic_prefix)
    await ensure_topics(
        settings, topics.all(), wait_s, {name: topics.configs(name) for name in topics.all()}
    )


# Errors after which an idempotent producer's sequence state is broken for good (seen after a
# broker restart): the producer is replaced by a fresh one with a new producer id.
FATAL_PRODUCER_ERRORS = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)


@dataclass
class _Batch:
    """One partition's record batch, open to more records until aiokafka starts writing it,
    with each record's caller waiting on a future of its own."""

    topic: str
    builder: BatchBuilder
    waiters: list[asyncio.Future[int]] = field(default_factory=list)
    deadlines_ms: list[int] = field(default_factory=list)
    # The latest broker append time each record's caller accepts (None: any).
    accept_until_ms: list[int | None] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # perf_counter() of each record's publish
    expired: int = 0  # waiters before this index are past their deadline (answered 503)
    armed: bool = False  # submitted: its callers' deadlines are watched
    timer: asyncio.TimerHandle | None = None  # pending until the next deadline, if any
    launched: bool = False  # handed to aiokafka (it still takes records until drained)

    def add(
        self, key: bytes | None, value: bytes, timestamp_ms: int | None,
        headers: list[tuple[str, bytes]], deadline_ms: int, accept_until_ms: int | None = None,
    ) -> asyncio.Future[int] | None:  # fmt: skip
        """The new record's future, or None once the batch is full or being written."""
        if self.builder.append(
            key=key, value=value, timestamp=timestamp_ms, headers=headers
        ) is None:  # fmt: skip
            return None
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        self.deadlines_ms.append(deadline_ms)
        self.accept_until_ms.append(accept_until_ms)
        self.started.append(time.perf_counter())
        return waiter


class _ClosingBuilder(BatchBuilder):  # type: ignore[misc]
    """A record batch that takes no more records once aiokafka has drained it: the idempotent
    producer counts a batch's records for its sequence numbers when it drains it
    (``set_producer_state``), before it builds the bytes; a record added in between would be
    sent beyond the counted sequence, and the broker refuses the partition's next batch
    (``OutOfOrderSequenceNumber``)."""

    def _set_producer_state(
        self, producer_id: int, producer_epoch: int, base_sequence: int
    ) -> None:
        self.close()
        super()._set_producer_state(producer_id, producer_epoch, base_sequence)


def _key_hash(key: bytes) -> int:
    """Java's murmur2 of a record key (Kafka's default partitioner)."""
    return int(murmur2(key)) & 0x7FFFFFFF


class Publisher:
    """An idempotent acks=all producer: ``publish`` returns only once Kafka has the record.

    Records go into one open record batch per partition (aiokafka's ``create_batch`` /
    ``send_batch``), which takes records until aiokafka starts writing it; its one
    acknowledgement answers every caller. That is what aiokafka's ``send`` does per record,
    without its per-record metadata wait, partitioner and future chain (a third of the edge's
    CPU). A caller waits at most until its own deadline: then it gets ``KafkaUnavailable``
    (the record may still be written later; ``sessionflow.acceptance`` says why that is safe).
    """

    PARTITIONS_TTL_S = 30.0

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._resetting: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()
        self._open: dict[TopicPartition, _Batch] = {}
        # One linger for every open batch: they go together, in one produce request.
        self._lingering: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        # Cached per key (``Settings.session_cache_size``): a session's ~60 records share their
        # key, and the pure-Python hash was 7 % of the edge's CPU.
        self._key_hash = functools.lru_cache(maxsize=settings.session_cache_size)(_key_hash)

    async def start(self, wait_s: float = 60.0) -> None:
        """Connect, retrying for ``wait_s``; ``KafkaUnavailable`` if the cluster stays away."""
        async with _translated(
            "the event store is unavailable", self._settings.retry_after_seconds
        ):
            await self._connect(wait_s)

    async def _connect(self, wait_s: float) -> None:
        async for attempt in _until_reachable(wait_s):
            with attempt:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._settings.kafka_bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=0,  # the batches' linger is the publisher's (``_launch``)
                    max_batch_size=self._settings.kafka_max_batch_bytes,
                    request_timeout_ms=self._settings.kafka_publish_timeout_ms,
                    retry_backoff_ms=100,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
                # A new producer (after a fatal error) starts new batches; those still
                # lingering go now, into it (their callers' deadlines are watched once sent).
                self._launch_lingering()
                self._open.clear()

    async def publish(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        timestamp_ms: int | None = None,
        deadline_ms: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        partition: int | None = None,
        *,
        accept_until_ms: int | None = None,
        urgent: bool = False,
    ) -> tuple[int, int]:
        """Write one record and wait for acks=all, at most until ``deadline_ms`` (epoch ms);
        return its (partition, offset). With ``accept_until_ms``, an acknowledgement whose
        broker append time (a ``LogAppendTime`` topic's) is later raises ``KafkaUnavailable``
        as a missed deadline does (``sessionflow.acceptance``). ``urgent``: its batch goes now,
        without waiting out the linger (the last of records a caller sends together)."""
        producer = self._producer
        if producer is None:
            raise KafkaUnavailable("producer not started", self._settings.retry_after_seconds)
        if deadline_ms is None:
            deadline_ms = int(time.time() * 1000) + self._settings.kafka_publish_timeout_ms
        if partition is None:
            partition = await self._partition_of(producer, topic, key)
        tp = TopicPartition(topic, partition)
        extra = list(headers) if headers else []
        batch = self._open.get(tp)
        waiter = (
            None
            if batch is None
            else self._join(batch, key, value, timestamp_ms, extra, deadline_ms, accept_until_ms)
        )
        if batch is None or waiter is None:
            if batch is not None:
                self._launch(tp, batch)  # full before it was ready: it goes now
            builder = _ClosingBuilder(self._settings.kafka_max_batch_bytes, 0)  # 0: uncompressed
            batch = self._open[tp] = _Batch(topic, builder)
            waiter = batch.add(key, value, timestamp_ms, extra, deadline_ms, accept_until_ms)
            assert waiter is not None  # a batch always takes its first record, whatever its size
            linger_s = self._settings.kafka_linger_ms / 1000
            if linger_s and self._lingering is None:
                loop = asyncio.get_running_loop()
                self._lingering = loop.call_later(linger_s, self._launch_lingering)
        if not batch.launched and (
            urgent
            or not self._settings.kafka_linger_ms
            or batch.builder.size() >= self._settings.kafka_batch_ready_bytes
        ):
            self._launch(tp, batch)
        return partition, await waiter

    def _launch_lingering(self) -> None:
        """The linger is over: every batch still open goes, all in the same loop turn, so
        aiokafka drains them into one produce request.

        Under real-time traffic each partition's batch lingering on its own timer went in a
        produce request of its own, several per linger (README, "The edge's hot path").
        Also called before the linger ends (a new producer, stopping): the timer is cancelled."""
        if self._lingering is not None:
            self._lingering.cancel()  # nothing when it is the timer that ended
            self._lingering = None
        for tp, batch in list(self._open.items()):
            if not batch.launched:
                self._launch(tp, batch)

    def _launch(self, tp: TopicPartition, batch: _Batch) -> None:
        """Hand ``batch`` to aiokafka: at once without a linger, else once it holds
        ``kafka_batch_ready_bytes`` or the oldest open batch has waited ``kafka_linger_ms``,
        whichever comes first.

        Under real-time traffic records arrive one by one and aiokafka sends whatever is there
        each time the broker answers: a produce request for every few records, which cost the
        edge and the broker more CPU than the records (README, "The edge's hot path"); under
        heavy traffic batches fill before the linger ends, and it adds nothing."""
        if batch.launched:
            return
        batch.launched = True
        producer = self._producer
        if producer is None:  # stopped meanwhile
            self._finish(tp, batch, KafkaError("the producer was stopped"))
            return
        task = asyncio.create_task(self._submit(producer, tp, batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _join(
        self, batch: _Batch, key: bytes | None, value: bytes, timestamp_ms: int | None,
        headers: list[tuple[str, bytes]], deadline_ms: int, accept_until_ms: int | None = None,
    ) -> asyncio.Future[int] | None:  # fmt: skip
        """Add a record to an open batch (None once it is full or being written). A batch Kafka
        does not take stays open; a record joining it after every earlier caller's deadline
        passed gets a timer of its own, or it would wait until Kafka came back."""
        waiter = batch.add(key, value, timestamp_ms, headers, deadline_ms, accept_until_ms)
        if waiter is not None and batch.armed and batch.timer is None:
            self._arm(batch)
        return waiter

    async def _partition_of(self, producer: AIOKafkaProducer, topic: str, key: bytes | None) -> int:
        """The partition Kafka's default partitioner gives ``key`` (random without a key).

        Only a topic's first record waits (for its metadata); later refreshes read the
        producer's metadata without waiting, so records of one key keep their order."""
        known = self._partitions.get(topic)
        now = time.monotonic()
        if known is None or now - known[0] > self.PARTITIONS_TTL_S:
            found = producer.client.cluster.partitions_for_topic(topic)
            partitions = sorted(found) if found else await self.partitions(topic)
            known = self._partitions[topic] = (now, partitions)
        partitions = known[1]
        if key is None:
            return random.choice(partitions)
        return partitions[self._key_hash(key) % len(partitions)]

    async def _submit(self, producer: AIOKafkaProducer, tp: TopicPartition, batch: _Batch) -> None:
        """Queue ``batch`` in aiokafka (behind the partition's previous batch) and answer its
        callers when Kafka acknowledges it."""
        self._arm(batch)
        try:
            sent = await producer.send_batch(batch.builder, tp.topic, partition=tp.partition)
        except KafkaError as exc:
            self._finish(tp, batch, exc)
            return
        sent.add_done_callback(functools.partial(self._acknowledged, tp, batch))

    def _arm(self, batch: _Batch) -> None:
        """Answer 503 to the callers past their deadline; again at the next one."""
        batch.armed, batch.timer = True, None  # run by _submit first, then by its own timer
        now_ms = time.time() * 1000
        while batch.expired < len(batch.waiters) and batch.deadlines_ms[batch.expired] <= now_ms:
            waiter = batch.waiters[batch.expired]
            batch.expired += 1
            if not waiter.done():
                metrics.KAFKA_PRODUCE_FAILURES.labels(batch.topic, "timeout").inc()
                waiter.set_exception(
                    KafkaUnavailable(
                        "the event store did not acknowledge in time",
                        self._settings.retry_after_seconds,
                    )
                )
        if batch.expired < len(batch.waiters):
            loop = asyncio.get_running_loop()
            delay_s = max(0.0, (batch.deadlines_ms[batch.expired] - now_ms) / 1000)
            batch.timer = loop.call_at(loop.time() + delay_s + 0.001, self._arm, batch)
        elif batch.expired:
            logger.warning(
                "kafka did not acknowledge %d records for %s in time",
                batch.expired, batch.topic, extra={"topic": batch.topic},
            )  # fmt: skip

    def _acknowledged(self, tp: TopicPartition, batch: _Batch, sent: asyncio.Future[Any]) -> None:
        if sent.cancelled():
            self._finish(tp, batch, KafkaError("the batch was cancelled"))
        elif (exc := sent.exception()) is not None:
            self._finish(tp, batch, exc)
        else:
            written = sent.result()
            appended = written.timestamp if written.timestamp_type == LOG_APPEND_TIME else None
            self._finish(tp, batch, None, written.offset, appended)

    def _finish(
        self, tp: TopicPartition, batch: _Batch, exc: BaseException | None, base: int = 0,
        appended_ms: int | None = None,
    ) -> None:  # fmt: skip
        if self._open.get(tp) is batch:  # no more records join it
            del self._open[tp]
        if batch.timer is not None:
            batch.timer.cancel()
        waiting = [(i, w) for i, w in enumerate(batch.waiters) if not w.done()]
        if exc is None:
            metrics.KAFKA_BATCH_RECORDS.labels(tp.topic).observe(len(batch.waiters))
            now = time.perf_counter()
            latency = metrics.KAFKA_PRODUCE_LATENCY.labels(tp.topic)
            for index, waiter in waiting:
                limit = batch.accept_until_ms[index]
                if appended_ms is not None and limit is not None and appended_ms > limit:
                    # Written, but after the time its consumers accept: they drop it, so its
                    # caller must not be told it was stored.
                    metrics.KAFKA_PRODUCE_FAILURES.labels(tp.topic, "appended-late").inc()
                    waiter.set_exception(
                        KafkaUnavailable(
                            "the event store acknowledged after the deadline",
                            self._settings.retry_after_seconds,
                        )
                    )
                    continue
                waiter.set_result(base + index)
                latency.observe(now - batch.started[index])
            return
        metrics.KAFKA_PRODUCE_FAILURES.labels(tp.topic, type(exc).__name__).inc(len(waiting))
        logger.warning(
            "kafka did not take %d records for %s: %r",
            len(waiting), tp.topic, exc, extra={"topic": tp.topic},
        )  # fmt: skip
        if isinstance(exc, FATAL_PRODUCER_ERRORS):
            self._schedule_reset()
        error = KafkaUnavailable(
            "the event store is unavailable", self._settings.retry_after_seconds
        )
        for _, waiter in waiting:
            waiter.set_exception(error)

    async def partitions(self, topic: str) -> list[int]:
        """The partitions of ``topic``, sorted."""
        if self._producer is None:
            raise KafkaUnavailable("producer not started", self._settings.retry_after_seconds)
        try:
            async with asyncio.timeout(self._settings.kafka_publish_timeout_ms / 1000):
                found = await self._producer.partitions_for(topic)
        except (TimeoutError, KafkaError) as exc:
            raise KafkaUnavailable(
                "the event store is unavailable", self._settings.retry_after_seconds
            ) from exc
        return sorted(found)

    def _schedule_reset(self) -> None:
        if self._resetting is None or self._resetting.done():
            self._resetting = asyncio.create_task(self._reset())

    async def _reset(self) -> None:
        old = self._producer
        logger.warning("replacing the Kafka producer after a fatal producer error")
        await self.start()
        if old is not None:
            # The old producer may retry undeliverable batches forever: give it a moment only.
            # Whatever it still delivers is past its deadline and never counted
            # (sessionflow.acceptance).
            task = asyncio.create_task(self._retire(old))
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    @staticmethod
    async def _retire(producer: AIOKafkaProducer) -> None:
        try:
            async with asyncio.timeout(10):
                await producer.stop()
        except (TimeoutError, KafkaError) as exc:
            logger.info("old producer stopped uncleanly: %r", exc)

    async def stop(self) -> None:
        """Flush what is pending and close."""
        if self._resetting is not None:
            await asyncio.gather(self._resetting, return_exceptions=True)
        self._launch_lingering()  # lingering ones go now
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await self._retire(producer)
        for task in list(self._retired):
            await asyncio.gather(task, return_exceptions=True)


async def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The offsets consumer ``group`` committed on ``topic``, by partition (none: absent)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        async with asyncio.timeout(settings.kafka_publish_timeout_ms / 1000):
            await admin.start()
            found = await admin.list_consumer_group_offsets(group)
    except (TimeoutError, KafkaError, OSError) as exc:
        raise KafkaUnavailable(
            "the event store is unavailable", settings.retry_after_seconds
        ) from exc
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in found.items() if tp.topic == topic}


async def cluster_id(settings: Settings) -> str:
    """The Kafka cluster's id (a fresh one whenever its storage is formatted again)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        async with _translated("kafka unreachable", settings.retry_after_seconds):
            await admin.start()
            described = await admin.describe_cluster()
    finally:
        await admin.close()
    return str(described["cluster_id"])


async def probe(settings: Settings) -> None:
    """Return once the cluster answers a metadata request; ``KafkaUnavailable`` otherwise."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=2000)
    try:
        async with _translated("kafka unreachable", settings.retry_after_seconds):
            await admin.start()
            await admin.list_topics()
    finally:
        await admin.close()


class GroupConsumer:
    """A consumer in group ``group`` that commits only what its caller has stored."""

    def __init__(
        self, settings: Settings, group: str, topics: Sequence[str], max_records: int
    ) -> None:
        self._settings = settings
        self._max_records = max_records
        self._consumer = AIOKafkaConsumer(
            *topics,
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            fetch_min_bytes=settings.consumer_fetch_min_bytes,
            fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        )

    async def start(self) -> None:
        async with _translated(
            "cannot join the consumer group", self._settings.retry_after_seconds
        ):
            await self._consumer.start()
        logger.info("consuming %s", sorted(self._consumer.subscription()))

    async def fetch(self, timeout_ms: int, max_records: int | None = None) -> list[ConsumedRecord]:
        """The next records (up to ``max_records``, default the consumer's, in offset order per
        partition), waiting up to ``timeout_ms`` for the first."""
        async with _translated("cannot fetch", self._settings.retry_after_seconds):
            fetched = await self._consumer.getmany(
                timeout_ms=timeout_ms, max_records=max_records or self._max_records
            )
        return [_of(message) for messages in fetched.values() for message in messages]

    async def lag(self) -> dict[tuple[str, int], int]:
        """Records between this consumer's position and the end of each assigned partition
        (partitions not fetched from yet are left out)."""
        found = {}
        async with _translated("cannot read positions", self._settings.retry_after_seconds):
            for tp in self._consumer.assignment():
                end = self._consumer.highwater(tp)
                if end is not None:
                    position = await self._consumer.position(tp)
                    found[(tp.topic, tp.partition)] = max(0, end - position)
        return found

    async def commit(self, records: Iterable[ConsumedRecord]) -> None:
        """Commit past ``records``; ``KafkaUnavailable`` if the group took their partitions away
        meanwhile (their new owner gets them again)."""
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        if offsets:
            async with _translated("offset commit failed", self._settings.retry_after_seconds):
                await self._consumer.commit(offsets)

    async def stop(self) -> None:
        await self._consumer.stop()


class RangeReader:
    """A group-less consumer that reads the records of [start, end) of one partition (the
    worker's gap filling)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self._settings = settings
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self, partition: int, start: int, end: int) -> list[ConsumedRecord]:
        async with _translated("cannot read a range", self._settings.retry_after_seconds):
            return await self._read(partition, start, end)

    async def _read(self, partition: int, start: int, end: int) -> list[ConsumedRecord]:
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
                    found.append(_of(message))
            if batch.get(tp) and batch[tp][-1].offset >= end - 1:
                break
        return found

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
