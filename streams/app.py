"""The Faust application: counts every sessionStart into tumbling quarter-hour, hour and day
windows (UTC-aligned), for all sessions and for each segment it matches (``streams.segments``),
and publishes each window's new absolute count on the counts topic.

Windows expire by wall clock (``window_expires_days``). A session older than that when it
reaches the worker is not counted here (its window may be gone): it goes to the dead-letter
topic with reason ``late``, and ``sessionflow reconcile`` counts it from ClickHouse.

``create_app`` only wires Faust (topics, tables, the source's handler, timers, signals); what the
worker does with a record is the ``Counter``'s, whose methods take the record and use the tables
passed in. Faust's consumer hands each source record to ``Counter.process`` in its fetch loop
(``streams.delivery.handle_directly``), not through a stream and an agent.
"""

from __future__ import annotations

import glob
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import Message

from schemas import codec
from sessionflow import kafka, metrics
from sessionflow.errors import SerializationError
from sessionflow.kafka import RangeReader
from sessionflow.ops import OpsServer
from sessionflow.records import ConsumedRecord, DeadLetter, abandoned
from sessionflow.segments import Span
from sessionflow.settings import Settings
from sessionflow.timebuckets import STORED_UNITS, Unit
from sessionflow.topics import Topics
from streams import counting, qoe
from streams import rocksdb as rocksdb_store
from streams.changelog import ChangelogWriter
from streams.delivery import InlineDeliveryConsumer, RawSchema, fetch_at_least, handle_directly
from streams.durability import DurableProducer, lost_write
from streams.segments import Matchers, apply_marker, segments_of
from streams.writeback import WriteBack

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 1000  # records between two persisted progress updates, at most

# Window counts kept in memory, per unit: a window per (org, app, source partition) and bucket
# in use, read back from the table when not.
WINDOWS_CACHED = 20_000

# A closed session's state stays this long (stream time) after its close: the summary is re-sent
# from it if the worker crashes before Kafka acknowledged it (sent before the next offset
# commit, within a second). Then it is dropped (a tombstone): later events of the session find
# no state and change nothing, as they did while it was kept.
CLOSED_KEPT_MS = 5 * 60 * 1000

# The changelogs are compacted topics (Faust); Kafka compacts only closed segments, and by
# default a segment stays open for 7 days, so a restart would replay every update since. A
# 5-minute segment lets the log cleaner keep about one record per key behind the open segment:
# the replay a restart needs stays bounded whatever the history.
# Tombstones (dropped sessions, expired windows) go after 5 minutes instead of Kafka's 24 hours,
# or a restart would replay a day of them; a table's recovery reads its changelog far faster.
CHANGELOG_TOPIC_CONFIGS = {
    "segment.ms": str(60 * 1000),
    "min.cleanable.dirty.ratio": "0.1",
    "delete.retention.ms": str(5 * 60 * 1000),
}

# The latest count of every window and segment touched since the last flush, by window key
# (org, app, source partition); encoded only when sent.
Touched = dict[tuple[Unit, int, str], tuple[counting.Window, str, counting.Entry]]


def window_expiry(table: Any) -> Callable[[Any, int], None]:
    """Faust's expiry bookkeeping for a key of windowed ``table`` written outside Faust: the key
    joins the keys of its window's end, and that end enters the partition's expiry heap once.
    (Faust's ``_maybe_set_key_ttl`` pushes the end again for every write: written back once
    per flush, a day window would add 86,400 heap entries a day, kept until it expires.)"""
    keys_by_end = table._partition_timestamp_keys

    def written(key: Any, partition: int) -> None:
        known = keys_by_end.get((partition, key[1][1]))
        if known is None:
            table._maybe_set_key_ttl(key, partition)
        else:
            known.add(key)

    return written


async def _running(app: faust.App) -> None:
    """Readiness of the Faust app: started, and not rebalancing or recovering its tables."""
    if not app.started:
        raise RuntimeError("starting")
    if app.rebalancing or app.in_recovery:
        raise RuntimeError("rebalancing or recovering its tables")


@dataclass
class Counter:
    """What the worker does with each media-events record, on the Faust tables and topics
    ``create_app`` passes in."""

    settings: Settings
    windows: dict[Unit, Any]  # windowed tables, by unit
    progress: Any  # table: next source offset to process, by partition (persisted lazily)
    segments: Any  # table: the spans of the segments seen on a partition, as JSON
    counts_out: Any  # topic
    dead_letter: Any  # topic
    gaps: RangeReader
    horizon_ms: int
    qoe_sessions: Any  # table: the QoE state of each open session, by session id
    summaries_out: Any  # topic
    changelog: ChangelogWriter  # sends what the write-backs flush
    # The source partitions this process holds, and the offsets its group last committed.
    assigned: Callable[[], set[int]]
    committed: Callable[[], Awaitable[dict[int, int]]]
    summaries_codec: codec.AvroCodec = field(default_factory=codec.session_summaries)
    events_codec: codec.AvroCodec = field(default_factory=codec.media_events)
    counts_codec: codec.AvroCodec = field(default_factory=codec.session_counts)
    markers_codec: codec.AvroCodec = field(default_factory=codec.segment_markers)
    matchers: Matchers = field(default_factory=Matchers)
    pending: dict[str, Touched] = field(default_factory=dict)
    # The window counts and the QoE states, written back to their tables once per flush
    # (``streams.writeback``): a window's state once instead of once per sessionStart, a
    # session's once instead of once per event. QoE states are kept decoded.
    window_counts: dict[Unit, WriteBack] = field(default_factory=dict)
    qoe_states: WriteBack = field(init=False)
    # Metric series counted for every record, looked up once (labels() per record was 2 %).
    _consumed: Any = None
    _not_a_start: Any = None

    # The next offset to process per source partition, to tell a gap (records Faust skipped)
    # from contiguous progress. In memory for every record; persisted in ``progress`` every
    # PROGRESS_EVERY records only: after a restart the persisted value may lag the committed
    # offset by that much, and the "gap" re-read from it is counted idempotently (window state
    # skips offsets it has applied). Writing it for every record made a session ~60 changelog
    # records instead of 3 and throttled catch-up behind Faust's producer buffer.
    next_offset: dict[int, int] = field(default_factory=dict)
    _persisted: dict[int, int] = field(default_factory=dict)  # ``progress``, by partition
    # The spans of the segments of each partition, parsed from ``segments``: read once per
    # assignment (a table read for every sessionStart was ~3 % of it) and changed only here.
    _parsed: dict[int, list[Span]] = field(default_factory=dict)
    # Open sessions by partition: session id -> edge time of its last event (rebuilt from the
    # table the first time a partition is seen), and when idle sessions were last looked for.
    _open: dict[int, dict[str, int]] = field(default_factory=dict)
    _closed: dict[int, dict[str, int]] = field(default_factory=dict)  # dropped CLOSED_KEPT_MS on
    _idle_checked_ms: dict[int, int] = field(default_factory=dict)
    _idle_behind: set[int] = field(default_factory=set)  # partitions with a slice left to do

    def __post_init__(self) -> None:
        topic = Topics(self.settings.topic_prefix).media_events
        self._consumed = metrics.RECORDS_CONSUMED.labels("worker", topic)
        self._not_a_start = metrics.RECORDS_SKIPPED.labels("not-a-session-start")
        self.window_counts = {
            unit: WriteBack(wrapper.table, WINDOWS_CACHED, on_written=window_expiry(wrapper.table))
            for unit, wrapper in self.windows.items()
        }
        self.qoe_states = WriteBack(
            self.qoe_sessions,
            # QoE states kept decoded (``Settings.session_cache_size``): past that (a flood of
            # sessionStarts) the oldest are read back from the table at their next event.
            self.settings.session_cache_size,
            encode=qoe.SessionQoe.to_json,
            decode=qoe.SessionQoe.of_json,
        )

    async def process(self, item: ConsumedRecord) -> None:
        """Count ``item``, first filling any gap Faust left before it in its partition."""
        # Faust may hand over a partition past records it never processed (seen after a crash
        # and a rebalance). Offsets of this topic are contiguous, so a jump is a gap: read it
        # straight from Kafka and count it first.
        partition = item.partition
        expected = self.next_offset.get(partition)
        if expected is None:  # first record since the partition was assigned
            expected = self._persisted[partition] = self.progress[str(partition)]
        if expected > 0 and item.offset > expected:
            missing = await self.gaps.read(partition, expected, item.offset)
            logger.warning(
                "filling a gap of %d records in partition %d before offset %d",
                len(missing),
                partition,
                item.offset,
                extra={"partition": partition, "offset": item.offset},
            )
            for earlier in missing:
                await self.count(earlier)
        await self.count(item)
        self.next_offset[partition] = max(item.offset + 1, self.next_offset.get(partition, 0))
        # What the table holds, known without reading it for every record (5 % of the worker).
        if item.offset + 1 - self._persisted[partition] >= PROGRESS_EVERY:
            self.progress[str(partition)] = self._persisted[partition] = item.offset + 1

    async def forget(self, partitions: set[int]) -> None:
        """Partitions taken away by a rebalance: their next owner starts from the table."""
        await self.changelog.write(
            *(written.forget(partitions) for written in self._written_back())
        )
        for partition in partitions:
            self._parsed.pop(partition, None)
            self.next_offset.pop(partition, None)
            self._persisted.pop(partition, None)
            self._open.pop(partition, None)
            self._closed.pop(partition, None)
            self._idle_checked_ms.pop(partition, None)
            self._idle_behind.discard(partition)

    async def count(self, item: ConsumedRecord) -> None:
        """Count one media-events record (idempotent: replays change nothing)."""
        self._consumed.inc()
        if codec.is_segment_marker(item.value):
            metrics.RECORDS_SKIPPED.labels("segment-marker").inc()
            await self._apply_marker(item)
            return
        head = codec.media_event_head(item.value)
        if head is not None:
            await self._close_idle(item.partition, head[2], item.offset)
        if head is not None and head[1] != "sessionStart":
            # Only sessionStarts count: the rest feed QoE from the first fields of the record.
            self._not_a_start.inc()
            await self._qoe_event(item, *head)
            return
        try:
            record = self.events_codec.decode(item.value)
        except SerializationError as exc:
            logger.warning(
                "undecodable record at %s: %s",
                item.source,
                exc,
                extra={"partition": item.partition, "offset": item.offset},
            )
            await self._to_dead_letter(DeadLetter(item, "undecodable", str(exc)))
            return
        if record["event_type"] != "sessionStart":
            self._not_a_start.inc()
            return
        at_ms = record["session_time_ms"]
        if at_ms is None or record["org_id"] is None or record["app_id"] is None:
            letter = DeadLetter(item, "incomplete", "sessionStart lacks identity")
            await self._to_dead_letter(letter)
            return
        refused = abandoned(item, record, self.settings.kafka_publish_timeout_ms)
        if refused is not None:
            await self._to_dead_letter(refused)
            return
        if counting.is_late(at_ms, int(time.time() * 1000), self.horizon_ms):
            await self._to_dead_letter(DeadLetter(item, "late", f"session_time_ms={at_ms}"))
            return
        metrics.RECORDS_COUNTED.inc()
        if self.qoe_states.get(item.partition, record["session_id"]) is None:
            opened = qoe.start(record, item.offset, item.partition)
            self.qoe_states.put(item.partition, record["session_id"], opened)
            open_sessions = await self._open_sessions(item.partition)
            open_sessions[record["session_id"]] = opened.last_received_ms
        matched = segments_of(self._spans(item.partition), record, item.offset, self.matchers)
        for window in counting.windows(record["org_id"], record["app_id"], at_ms, item.partition):
            counts = self.window_counts[window.unit]
            # Faust's key of the window (its tumbling range, in seconds).
            key = (window.key, counts.table.window.current(at_ms / 1000))
            state, changed = counting.apply(counts.get(item.partition, key), matched, item.offset)
            if changed:
                counts.put(item.partition, key, state)
            # Announced even when the record was already applied: a crash may have lost the
            # count update after the changelog got the state. Versions make it idempotent.
            # Updates of one window are coalesced until the next flush (before every commit).
            touched = self.pending.setdefault(window.key, {})
            for segment_id in (counting.ALL_SESSIONS, *matched):
                touched[(window.unit, window.bucket_start_ms, segment_id)] = (
                    window,
                    segment_id,
                    state[segment_id],
                )

    async def _qoe_event(
        self, item: ConsumedRecord, session_id: str, event_type: str, received_ms: int, ts_ms: int
    ) -> None:
        """Apply one event to its session's QoE state; publish the summary when it closes."""
        state = self.qoe_states.get(item.partition, session_id)
        if state is None:
            return  # not counted (refused, late) or closed already: nothing to follow
        after = qoe.apply(state, event_type, ts_ms, received_ms, item.offset)
        if after is state:
            return
        if after.closed is not None:
            await self._close(session_id, after)
            return
        self.qoe_states.put(item.partition, session_id, after)
        (await self._open_sessions(item.partition))[session_id] = after.last_received_ms

    async def _open_sessions(self, partition: int) -> dict[str, int]:
        """The partition's open sessions (id -> edge time of the last event). Built from the
        table the first time the partition is seen by this process (for every partition then
        assigned, in one pass over the table), which also re-sends the summaries of sessions
        closed at or past the last committed offset: one may have been lost with a crash
        between the close and Kafka's acknowledgement (the sink keeps one row per session).
        Closed before it, its summary was flushed before that commit."""
        found = self._open.get(partition)
        if found is not None:
            return found
        fresh = ({partition} | self.assigned()) - self._open.keys()
        committed = await self.committed()
        began = time.monotonic()
        for p in fresh:
            self._open[p] = {}
            self._closed.setdefault(p, {})
        states = 0
        for sid, value in list(self.qoe_sessions.items()):
            states += 1
            held = value.get("partition") if value else None
            if held not in fresh:
                continue
            if value.get("closed") is None:
                self._open[held][sid] = int(value["last_received_ms"])
                continue
            self._closed[held][sid] = int(value["last_received_ms"])
            closed_offset = value.get("closed_offset")
            if closed_offset is None or closed_offset >= committed.get(held, 0):
                await self._publish(sid, qoe.SessionQoe.of_json(value))
        logger.info(
            "QoE states of partitions %s read: %d open, %d closed, of %d in %.1f s",
            sorted(fresh),
            sum(len(self._open[p]) for p in fresh),
            sum(len(self._closed[p]) for p in fresh),
            states,
            time.monotonic() - began,
        )
        return self._open[partition]

    async def _close_idle(self, partition: int, now_ms: int, offset: int) -> None:
        """Close the partition's sessions idle for ``qoe_idle_close_ms`` of its stream time
        (edge receive time of its records), and drop closed sessions CLOSED_KEPT_MS after their
        close: once a second of stream time, and ``qoe_close_slice`` sessions at most per record
        (after a quiet spell every open session is idle at once: in slices, the work follows the
        records and each waits for one slice at most)."""
        behind = partition in self._idle_behind
        if not behind and now_ms - self._idle_checked_ms.get(partition, 0) < 1000:
            return
        self._idle_checked_ms[partition] = now_ms
        open_sessions = await self._open_sessions(partition)
        slice_ = self.settings.qoe_close_slice
        idle = qoe.due(open_sessions, now_ms - self.settings.qoe_idle_close_ms, slice_)
        for session_id in idle:
            known = self.qoe_states.get(partition, session_id)
            if known is None:
                open_sessions.pop(session_id, None)  # dropped already: nothing to close
                continue
            state = qoe.close_if_idle(
                known,
                now_ms,
                self.settings.qoe_idle_close_ms,
                at_offset=offset,
            )
            if state.closed is not None:
                await self._close(session_id, state)
            else:
                open_sessions[session_id] = state.last_received_ms
        closed = self._closed.setdefault(partition, {})
        expired = qoe.due(closed, now_ms - CLOSED_KEPT_MS, slice_)
        for session_id in expired:
            del closed[session_id]
            self.qoe_states.discard(session_id)
            if self.qoe_sessions[session_id]:
                del self.qoe_sessions[session_id]
        if len(idle) == slice_ or len(expired) == slice_:
            self._idle_behind.add(partition)
        else:
            self._idle_behind.discard(partition)

    async def _close(self, session_id: str, state: qoe.SessionQoe) -> None:
        """Keep the session as closed (later events and replays change nothing) and publish
        its summary."""
        self.qoe_states.put(state.partition, session_id, state)
        (await self._open_sessions(state.partition)).pop(session_id, None)
        self._closed.setdefault(state.partition, {})[session_id] = state.last_received_ms
        await self._publish(session_id, state)
        metrics.QOE_SESSIONS_CLOSED.labels(state.closed or "").inc()

    async def _publish(self, session_id: str, state: qoe.SessionQoe) -> None:
        value = self.summaries_codec.encode(qoe.summary(session_id, state))
        await self.summaries_out.send(key=session_id.encode(), value=value)

    async def write_back(self) -> None:
        """Write the changed window counts and QoE states to their tables (local store and
        changelog): at every flush, before the offsets are committed."""
        await self.changelog.write(*(written.flush() for written in self._written_back()))

    def _written_back(self) -> tuple[WriteBack, ...]:
        return (*self.window_counts.values(), self.qoe_states)

    async def send_counts(self) -> None:
        """Publish the latest count of every window touched since the last call: one record
        per window key, a consistent snapshot of its windows (the sink writes it whole).

        The windows touched so far are taken at once: a send may yield to the fetch loop, which
        counts and touches windows again, and a loop until nothing is pending chased it, sending
        a record every few sessionStarts in a burst (33,100 records for 100,000 starts). What is
        touched meanwhile waits for the next call; every record counted before this call (all a
        commit that calls it covers: Faust fixes a commit's offsets before its flush) is in what
        it sends."""
        pending, self.pending = self.pending, {}
        for key, touched in pending.items():
            value = self.counts_codec.encode(counting.count_record(list(touched.values())))
            await self.counts_out.send(key=key.encode(), value=value)

    async def _apply_marker(self, item: ConsumedRecord) -> None:
        try:
            marker = self.markers_codec.decode(item.value)
        except SerializationError as exc:
            await self._to_dead_letter(DeadLetter(item, "undecodable", str(exc)))
            return
        before = self._spans(item.partition)
        after = apply_marker(before, marker, item.offset)
        if after is not before:
            self.segments[str(item.partition)] = [span.to_json() for span in after]
            self._parsed[item.partition] = after
            logger.info("segment %s %s at %s", marker["segment_key"], marker["action"], item.source)

    def _spans(self, partition: int) -> list[Span]:
        """The partition's spans: read from the table the first time, then kept current by
        ``_apply_marker`` (the only writer of a partition's spans is its owner)."""
        spans = self._parsed.get(partition)
        if spans is None:
            stored = self.segments[str(partition)]
            spans = self._parsed[partition] = [Span.of_json(entry) for entry in stored]
        return spans

    async def _to_dead_letter(self, letter: DeadLetter) -> None:
        record = letter.record
        metrics.RECORDS_DEAD_LETTERED.labels("worker", letter.reason).inc()
        await self.dead_letter.send(key=record.key, value=record.value, headers=letter.headers())


PRODUCER_LINGER_S = 0.01


# RocksDB per table partition (``streams.rocksdb``: Faust's store, every database sharing the
# worker's memory budget). Faust's defaults (64 MB write buffers x 3 per partition database)
# would flush rarely and in large pieces; 4 MB ones flush as the budget needs.
ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024 * 1024,
    "max_write_buffer_number": 2,
    "target_file_size_base": 16 * 1024 * 1024,
}


# How the worker's Faust app consumes and produces (``create_app``; ``bench/faust_floor.py``
# runs the same with a handler that does nothing, to measure what Faust itself costs).
STREAM_OPTIONS: dict[str, Any] = {
    "producer_acks": -1,
    # Table changelogs and counts are written one record per event; Faust's default (no
    # linger) sends each as its own produce request, which cost the worker and the broker more
    # CPU than the counting itself under load. 10 ms gathers them into batches.
    "producer_linger": PRODUCER_LINGER_S,
    "web_enabled": False,
    "consumer_auto_offset_reset": "earliest",
    # A commit flushes the write-back and waits for Kafka's acknowledgements; Faust commits
    # inline in its fetch loop, so every 1,000 records it stalled delivery several times a
    # second in a catch-up. Once a second (or 10,000 records) replays at most that much.
    "broker_commit_every": 10_000,
    "broker_commit_interval": 1.0,
    # Records fetched ahead of an agent's stream (Faust's default 4,096; a full buffer pauses
    # the partition's fetching). The worker's source records no longer go through a stream
    # (streams.delivery hands them to the counter); this is for any stream an app of these
    # options has (bench/faust_floor.py --path agent measures that path).
    "stream_buffer_maxsize": 32768,
    "broker_session_timeout": 10.0,
    "broker_heartbeat_interval": 2.0,
    # Faust's leader-election topic serves only ``on_leader=True`` tasks (none here). It has
    # no records, so a fetch request holding it alone (its source partitions still buffered)
    # waits Faust's fixed 1.5 s on the broker, and aiokafka sends the broker nothing else
    # meanwhile (bench/faust_floor.py: a catch-up's fetch loop waited for records 9 of 15 s
    # with it and Faust's stream buffers, 2.6 s without it).
    "topic_disable_leader": True,
    # Records a fetch brings per partition (Faust's default 1 MiB, ~4,500 realistic records).
    # The worker counts a fetch's records in the fetch loop itself (streams.delivery), and the
    # next fetch goes out when they are taken; with 1 MiB the loop waited for the broker half
    # of a catch-up (15,000 records/s); 4 MiB: 30,500 (bench/worker.py, RSS +40 MB).
    "consumer_max_fetch_size": 4 * 1024 * 1024,
}


def _count_restored(table: Any) -> None:
    """Count the changelog records Faust's recovery applies to ``table`` (a metric)."""
    apply = table.apply_changelog_batch
    restored = metrics.CHANGELOG_RESTORED.labels(table.name)

    def counted(batch: Any) -> None:
        restored.inc(len(batch))
        apply(batch)

    table.apply_changelog_batch = counted


def state_folder(settings: Settings, cluster_id: str) -> Path:
    """Where this worker keeps its tables: one folder per worker instance (two workers on one
    machine must not share RocksDB files) and Kafka cluster. Tables kept for another cluster
    (a wiped and re-formatted Kafka) are deleted: their offsets mean nothing there."""
    topics = Topics(settings.topic_prefix)
    instance = re.sub(r"[^A-Za-z0-9_.-]", "_", settings.worker_instance_id)
    base = settings.state_dir / topics.worker_app_id
    for stale in base.glob(f"{glob.escape(instance)}@*"):
        if stale.name != f"{instance}@{cluster_id}":
            logger.warning("deleting tables kept for another Kafka cluster: %s", stale)
            shutil.rmtree(stale, ignore_errors=True)
    folder = base / f"{instance}@{cluster_id}"
    folder.mkdir(parents=True, exist_ok=True)  # Faust creates one level only
    return folder


def create_app(settings: Settings, cluster_id: str = "unknown") -> faust.App:
    """Build the Faust app, its tables and its source's handler for ``settings``
    (``cluster_id``: the Kafka cluster's, which names the folder of the worker's local tables)."""
    topics = Topics(settings.topic_prefix)
    rocksdb = settings.worker_store == "rocksdb"
    budget = (
        rocksdb_store.MemoryBudget(settings.worker_rocksdb_memory_mb * 1024 * 1024)
        if rocksdb
        else None
    )
    table_options = {**ROCKSDB_OPTIONS, rocksdb_store.BUDGET_OPTION: budget} if budget else None
    app = faust.App(
        topics.worker_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        datadir=str(state_folder(settings, cluster_id)),
        # A restarted worker reads its tables from local RocksDB files and replays only the
        # changelog records written since (Faust persists the changelog offset with them);
        # from memory it would replay every table's whole changelog first.
        store=rocksdb_store.store_url() if rocksdb else "memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        table_cleanup_interval=60.0,
        **STREAM_OPTIONS,
        # Static membership: a restarted worker takes its partitions back without waiting for
        # the session timeout of its previous incarnation.
        consumer_group_instance_id=settings.worker_instance_id,
    )
    app.transport.Producer = DurableProducer  # type: ignore[misc]
    app.transport.Consumer = InlineDeliveryConsumer  # type: ignore[misc]
    source = app.topic(
        topics.media_events, schema=RawSchema(), partitions=settings.topic_partitions
    )
    expires = timedelta(days=settings.window_expires_days)

    def table(name: str, default: type) -> Any:
        """A table partitioned like the source, its changelog compacted (see above)."""
        return app.Table(
            name,
            default=default,
            partitions=settings.topic_partitions,
            key_type=str,
            extra_topic_configs=CHANGELOG_TOPIC_CONFIGS,
            options=dict(table_options) if table_options else None,
        )

    counter = Counter(
        settings=settings,
        # The aiokafka producer inside Faust's (created when the app starts), behind Faust's
        # own buffered table writes (on every write: at a flush and when partitions are revoked).
        changelog=ChangelogWriter(
            lambda: cast(DurableProducer, app.producer)._ensure_producer(),
            lambda: cast(DurableProducer, app.producer).buffer.flush(),
        ),
        windows={
            unit: table(f"window-counts-{unit.value}", dict).tumbling(
                timedelta(milliseconds=unit.ms), expires=expires
            )
            for unit in STORED_UNITS
        },
        progress=table("source-progress", int),
        # Keyed by partition, so its changelog is co-partitioned with the source.
        segments=table("segments-by-partition", list),
        counts_out=app.topic(topics.session_counts, key_serializer="raw", value_serializer="raw"),
        dead_letter=app.topic(topics.dead_letter, key_serializer="raw", value_serializer="raw"),
        qoe_sessions=table("qoe-sessions", dict),
        summaries_out=app.topic(
            topics.session_summaries, key_serializer="raw", value_serializer="raw"
        ),
        gaps=RangeReader(settings, topics.media_events),
        assigned=lambda: {
            tp.partition for tp in app.consumer.assignment() if tp.topic == topics.media_events
        },
        committed=partial(
            kafka.committed_offsets, settings, topics.worker_app_id, topics.media_events
        ),
        horizon_ms=int(expires.total_seconds() * 1000) - Unit.DAY.ms,
    )

    for changelogged in app.tables.values():
        _count_restored(changelogged)

    producer = app.producer
    assert isinstance(producer, DurableProducer)
    producer.before_flush.append(counter.send_counts)

    producer.before_flush.append(counter.write_back)

    @app.timer(0.25)  # type: ignore[untyped-decorator]
    async def publish_counts() -> None:
        await counter.send_counts()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_progress(app: Any, revoked: Any, **kwargs: Any) -> None:
        try:
            await counter.forget({tp.partition for tp in revoked})
        except Exception as exc:  # their next owner would restore tables without these changes
            lost_write(exc)

    async def count_record(message: Message) -> None:
        item = ConsumedRecord(
            message.topic, message.partition, message.offset, message.key,
            message.value or b"",  # a tombstone: undecodable, dead-lettered
            round(message.timestamp * 1000), message.timestamp_type,
        )  # fmt: skip
        await counter.process(item)

    # The consumer hands media-events records to the counter itself (streams.delivery), in
    # offset order per partition, acknowledging each once counted: no agent, no stream buffer.
    app.topics.add(source)
    handle_directly(app, topics.media_events, count_record)
    fetch_at_least(app, settings.consumer_fetch_min_bytes, settings.consumer_fetch_max_wait_ms)

    ops = OpsServer(
        settings.ops_host,
        settings.worker_ops_port,
        {"kafka": partial(kafka.probe, settings), "faust": partial(_running, app)},
    )

    @app.task  # type: ignore[untyped-decorator]
    async def start_ops() -> None:
        await ops.start()

    @app.timer(1.0)  # type: ignore[untyped-decorator]
    async def report_lag() -> None:
        for tp in app.consumer.assignment():
            if tp.topic != topics.media_events or tp.partition not in counter.next_offset:
                continue
            end = app.consumer.highwater(tp)
            if end is not None:
                lag = max(0, end - counter.next_offset[tp.partition])
                metrics.CONSUMER_LAG.labels("worker", tp.topic, str(tp.partition)).set(lag)
        if budget is not None:
            for part, used in budget.usage().items():
                metrics.ROCKSDB_MEMORY.labels(part).set(used)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_gap_filler(app: Any, **kwargs: Any) -> None:
        await counter.gaps.close()
        await ops.stop()

    return app
