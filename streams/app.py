"""The Faust application: counts every sessionStart into tumbling quarter-hour, hour and day
windows (UTC-aligned), for all sessions and for each segment it matches (``streams.segments``),
and publishes each window's new absolute count on the counts topic.

Windows expire by wall clock (``window_expires_days``). A session older than that when it
reaches the worker is not counted here (its window may be gone): it goes to the dead-letter
topic with reason ``late``, and ``sessionflow reconcile`` counts it from ClickHouse.
"""

from __future__ import annotations

import contextvars
import logging
import time
from datetime import timedelta
from typing import Any

import faust

from schemas import codec
from schemas.topics import Topics
from sessionflow.acceptance import appended_in_time
from sessionflow.errors import SerializationError
from sessionflow.kafka import ConsumedRecord
from sessionflow.settings import Settings
from sessionflow.timebuckets import STORED_UNITS, Unit
from streams import counting
from streams.durability import DurableProducer
from streams.gapfill import GapFiller
from streams.segments import Matchers, apply_marker, segments_of

logger = logging.getLogger(__name__)

# The time the record being processed counts at (seconds): Faust windows are chosen from it.
_counted_at: contextvars.ContextVar[float] = contextvars.ContextVar("counted_at")


PROGRESS_EVERY = 1000  # records between two persisted progress updates, at most


def _window_time(event: Any = None) -> float:
    return _counted_at.get()


def create_app(settings: Settings) -> faust.App:
    """Build the Faust app, its tables and its agent for ``settings``."""
    topics = Topics(settings.topic_prefix)
    app = faust.App(
        topics.worker_app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        producer_acks=-1,
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        table_cleanup_interval=60.0,
        broker_commit_every=1000,
        broker_commit_interval=1.0,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
    )
    app.transport.Producer = DurableProducer  # type: ignore[misc]
    source = app.topic(
        topics.media_events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.topic_partitions,
    )
    counts_out = app.topic(topics.session_counts, key_serializer="raw", value_serializer="raw")
    dead_letter = app.topic(topics.dead_letter, key_serializer="raw", value_serializer="raw")
    expires = timedelta(days=settings.window_expires_days)
    tables = {
        unit: app.Table(
            f"window-counts-{unit.value}",
            default=dict,
            partitions=settings.topic_partitions,
            key_type=str,
        )
        .tumbling(timedelta(milliseconds=unit.ms), expires=expires)
        .clone(relative_to=_window_time)
        for unit in STORED_UNITS
    }
    events_codec = codec.media_events()
    counts_codec = codec.session_counts()
    markers_codec = codec.segment_markers()
    horizon_ms = int(expires.total_seconds() * 1000) - Unit.DAY.ms

    async def to_dead_letter(raw: bytes, key: bytes | None, reason: str, detail: str) -> None:
        await dead_letter.send(
            key=key,
            value=raw,
            headers={"reason": reason.encode(), "detail": detail.encode()[:1000]},
        )

    # The latest count of every window and segment touched since the last flush, by window key
    # (org, app, source partition); encoded only when sent.
    Touched = dict[tuple[Unit, int, str], tuple[counting.Window, str, counting.Entry]]
    pending: dict[str, Touched] = {}

    async def send_counts() -> None:
        """Publish the latest count of every window touched since the last call: one record
        per window key, a consistent snapshot of its windows (the sink writes it whole)."""
        while pending:
            key, touched = pending.popitem()
            value = counts_codec.encode(counting.count_record(list(touched.values())))
            await counts_out.send(key=key.encode(), value=value)

    producer = app.producer
    assert isinstance(producer, DurableProducer)
    producer.before_flush.append(send_counts)

    @app.timer(0.25)  # type: ignore[untyped-decorator]
    async def publish_counts() -> None:
        await send_counts()

    # The next offset to process per source partition, to tell a gap (records Faust skipped)
    # from contiguous progress. In memory for every record; persisted in a table (one changelog
    # record) every PROGRESS_EVERY records only: after a restart the persisted value may lag the
    # committed offset by that much, and the "gap" re-read from it is counted idempotently
    # (window state skips offsets it has applied). Writing it for every record made a session
    # ~60 changelog records instead of 3 and throttled catch-up behind Faust's producer buffer.
    progress = app.Table(
        "source-progress", default=int, partitions=settings.topic_partitions, key_type=str
    )
    next_offset: dict[int, int] = {}

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_progress(app: Any, revoked: Any, **kwargs: Any) -> None:
        for tp in revoked:
            next_offset.pop(tp.partition, None)

    gaps = GapFiller(settings, topics.media_events)

    # The segments seen on each source partition (streams.segments), keyed by partition.
    segments = app.Table(
        "segments-by-partition", default=list, partitions=settings.topic_partitions, key_type=str
    )
    matchers = Matchers()

    async def count(item: ConsumedRecord) -> None:
        """Count one media-events record (idempotent: replays change nothing)."""
        if codec.is_segment_marker(item.value):
            try:
                marker = markers_codec.decode(item.value)
            except SerializationError as exc:
                await to_dead_letter(item.value, item.key, "undecodable", str(exc))
                return
            before = segments[str(item.partition)]
            after = apply_marker(before, marker, item.offset)
            if after is not before:
                segments[str(item.partition)] = after
                logger.info(
                    "segment %s %s at %d/%d",
                    marker["segment_key"],
                    marker["action"],
                    item.partition,
                    item.offset,
                )
            return
        kind = codec.media_event_type(item.value)
        if kind is not None and kind != "sessionStart":
            return  # only sessionStarts count: the type is read without decoding the record
        try:
            record = events_codec.decode(item.value)
        except SerializationError as exc:
            logger.warning("undecodable record at %s/%s: %s", item.partition, item.offset, exc)
            await to_dead_letter(item.value, item.key, "undecodable", str(exc))
            return
        if record["event_type"] != "sessionStart":
            return
        at_ms = record["session_time_ms"]
        if at_ms is None or record["org_id"] is None or record["app_id"] is None:
            await to_dead_letter(item.value, item.key, "incomplete", "sessionStart lacks identity")
            return
        if not appended_in_time(
            record["session_id"], item.timestamp_ms, item.timestamp_type,
            settings.kafka_publish_timeout_ms,
        ):  # fmt: skip
            await to_dead_letter(item.value, item.key, "abandoned", "appended after the deadline")
            return
        if counting.is_late(at_ms, int(time.time() * 1000), horizon_ms):
            await to_dead_letter(item.value, item.key, "late", f"session_time_ms={at_ms}")
            return
        _counted_at.set(at_ms / 1000)
        matched = segments_of(segments[str(item.partition)], record, item.offset, matchers)
        for window in counting.windows(record["org_id"], record["app_id"], at_ms, item.partition):
            table = tables[window.unit]
            state, changed = counting.apply(table[window.key].value(), matched, item.offset)
            if changed:
                table[window.key] = state
            # Announced even when the record was already applied: a crash may have lost the
            # count update after the changelog got the state. Versions make it idempotent.
            # Updates of one window are coalesced until the next flush (before every commit).
            touched = pending.setdefault(window.key, {})
            for segment_id in (counting.ALL_SESSIONS, *matched):
                touched[(window.unit, window.bucket_start_ms, segment_id)] = (
                    window,
                    segment_id,
                    state[segment_id],
                )

    @app.agent(source, name="count-sessions")
    async def count_sessions(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            item = ConsumedRecord(
                message.topic, message.partition, message.offset, event.key, event.value,
                round(message.timestamp * 1000), message.timestamp_type,
            )  # fmt: skip
            # Faust may hand over a partition past records it never processed (seen after a
            # crash and a rebalance). Offsets of this topic are contiguous, so a jump is a gap:
            # read it straight from Kafka and count it first.
            expected = next_offset.get(item.partition)
            if expected is None:  # first record since the partition was assigned
                expected = progress[str(item.partition)]
            if expected > 0 and item.offset > expected:
                missing = await gaps.fetch(item.partition, expected, item.offset)
                logger.warning(
                    "filling a gap of %d records in partition %d before offset %d",
                    len(missing),
                    item.partition,
                    item.offset,
                )
                for earlier in missing:
                    await count(earlier)
            await count(item)
            next_offset[item.partition] = max(item.offset + 1, next_offset.get(item.partition, 0))
            if item.offset + 1 - progress[str(item.partition)] >= PROGRESS_EVERY:
                progress[str(item.partition)] = item.offset + 1

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def close_gap_filler(app: Any, **kwargs: Any) -> None:
        await gaps.close()

    return app
