"""Segments: their definitions in ClickHouse (``segments``) and their lifecycle.

Defining a segment (``PUT /segments/{id}``):

1. a start marker goes into every partition of media-events (``streams.segments``); the worker
   counts each later session that matches into the segment;
2. the definition is stored with the markers' offsets, status ``backfilling``;
3. once the sink has committed past every marker, the sessions before the markers are counted
   from ClickHouse (``sessionflow.backfill``) and the status becomes ``ready``.

Only a ``ready`` segment answers series, so a segment's series is complete from its first
answer. Redefining a segment with another app or filter starts a new *generation* (new counts,
new key ``<id>@<generation>``) and stops the old one; deleting it stops it. Every state change
is a newer version of the row; a ``ready`` row's version is its ``backfilling`` row's + 1, so a
late backfill can never outrank a later redefinition or deletion.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from readapi.recent import Recent
from schemas import codec
from sessionflow.backfill import backfill
from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseUnavailable, KafkaUnavailable
from sessionflow.kafka import Publisher, committed_offsets, ensure_sessionflow_topics
from sessionflow.segmentfilter import Node, canonical
from sessionflow.segments import BACKFILLING, DELETED, READY, Segment
from sessionflow.settings import Settings
from sessionflow.topics import Topics

logger = logging.getLogger(__name__)

COLUMNS = (
    "org_id", "segment_id", "generation", "name", "app_id", "filter", "status", "markers",
    "created_at", "version",
)  # fmt: skip


def _stamp() -> int:
    """A new version/generation: microseconds since the epoch."""
    return time.time_ns() // 1000


class SegmentStore:
    """The ``segments`` table."""

    def __init__(self, clickhouse: ClickHouse, cache_seconds: float = 0.0) -> None:
        self._ch = clickhouse
        # (org, segment id) -> the segment or None, for ``recent``.
        self._recent: Recent[tuple[str, str], Segment | None] = Recent(cache_seconds)

    def _select(self, where: str) -> str:
        return (
            f"SELECT {', '.join(COLUMNS)} FROM {self._ch.database}.segments WHERE {where} "
            "ORDER BY version DESC LIMIT 1 BY org_id, segment_id"
        )

    @staticmethod
    def _segment(row: tuple[Any, ...]) -> Segment:
        org, sid, gen, name, app, filt, status, markers, created, version = row
        return Segment(
            org_id=org,
            segment_id=sid,
            generation=int(gen),
            app_id=app,
            filter=filt,
            name=name,
            status=status,
            markers=tuple(int(m) for m in markers),
            created_at=created.replace(tzinfo=UTC),
            version=int(version),
        )

    def _live(self, where: str, params: dict[str, Any] | None = None) -> list[Segment]:
        """The newest rows matching ``where``, deleted segments left out."""
        found = (self._segment(row) for row in self._ch.execute(self._select(where), params))
        return [s for s in found if s.status != DELETED]

    def get(self, org_id: str, segment_id: str) -> Segment | None:
        """A segment as it is now (``None`` if it never existed or was deleted)."""
        found = self._live(
            "org_id = %(org)s AND segment_id = %(id)s", {"org": org_id, "id": segment_id}
        )
        return found[0] if found else None

    def recent(self, org_id: str, segment_id: str) -> Segment | None:
        """A segment as it was at most ``cache_seconds`` ago (as ``get`` at once after this
        process saved it): what a series reads, without a query of its own per request."""
        return self._recent.get((org_id, segment_id), lambda: self.get(org_id, segment_id))

    def of_app(self, org_id: str, app_id: str | None) -> list[Segment]:
        """The live segments of an org and app (``None``: the org-wide ones)."""
        return [s for s in self._live("org_id = %(org)s", {"org": org_id}) if s.app_id == app_id]

    def all(self) -> list[Segment]:
        """Every live segment."""
        return self._live("1")

    def backfilling(self) -> list[Segment]:
        return [s for s in self.all() if s.status == BACKFILLING]

    def save(self, segment: Segment) -> None:
        self._ch.insert(
            "segments",
            COLUMNS,
            [(segment.org_id, segment.segment_id, segment.generation, segment.name,
              segment.app_id, segment.filter, segment.status, list(segment.markers),
              segment.created_at.replace(microsecond=0), segment.version)],
        )  # fmt: skip
        live = segment if segment.status != DELETED else None
        self._recent.put((segment.org_id, segment.segment_id), live)


class SegmentLimit(Exception):
    """The app already has the maximum number of segments."""


class Segments:
    """Defines, deletes and completes segments (markers in Kafka, rows in ClickHouse)."""

    def __init__(self, settings: Settings, clickhouse: ClickHouse) -> None:
        self._settings = settings
        self._ch = clickhouse
        self.store = SegmentStore(clickhouse, settings.segment_cache_seconds)
        self._topics = Topics(settings.topic_prefix)
        self._publisher = Publisher(settings)
        self._started = False
        self._lock = asyncio.Lock()
        self._markers = codec.segment_markers()
        # Backfills in flight, by segment key: a PUT waiting for its segment and the loop
        # finishing pending ones share one run instead of backfilling twice.
        self._completing: dict[str, asyncio.Task[Segment]] = {}

    async def _publisher_ready(self) -> Publisher:
        if not self._started:
            wait_s = self._settings.kafka_publish_timeout_ms / 1000
            await ensure_sessionflow_topics(self._settings, wait_s)
            await self._publisher.start(wait_s=wait_s)
            self._started = True
        return self._publisher

    async def close(self) -> None:
        if self._started:
            await self._publisher.stop()

    async def _mark(self, segment: Segment, action: str) -> tuple[int, ...]:
        """Write a marker into every media-events partition; return the offsets by partition."""
        publisher = await self._publisher_ready()
        topic = self._topics.media_events
        partitions = await publisher.partitions(topic)
        if not partitions:
            raise KafkaUnavailable(f"topic {topic} has no partitions yet")
        value = self._markers.encode(segment.marker(action))
        written = await asyncio.gather(
            *(
                publisher.publish(
                    topic, value, partition=p, headers=[codec.SEGMENT_MARKER_HEADER], urgent=True
                )
                for p in partitions
            )
        )
        offsets = dict(written)
        return tuple(offsets[p] for p in range(max(offsets) + 1))

    async def define(
        self, org_id: str, segment_id: str, name: str, app_id: str | None, node: Node
    ) -> tuple[Segment, bool]:
        """Create or redefine a segment; return it and whether it is new."""
        filter_json = canonical(node)
        async with self._lock:
            alive = await asyncio.to_thread(self.store.get, org_id, segment_id)
            if alive is not None and (alive.app_id, alive.filter) == (app_id, filter_json):
                if alive.name != name:
                    alive = replace(alive, name=name, version=_stamp())
                    await asyncio.to_thread(self.store.save, alive)
                return alive, False
            if alive is None or alive.app_id != app_id:
                siblings = await asyncio.to_thread(self.store.of_app, org_id, app_id)
                others = [s for s in siblings if s.segment_id != segment_id]
                if len(others) >= self._settings.segments_per_app:
                    raise SegmentLimit(
                        f"app {app_id or '(all apps)'} already has "
                        f"{self._settings.segments_per_app} segments"
                    )
            stamp = _stamp()
            segment = Segment(
                org_id=org_id,
                segment_id=segment_id,
                generation=stamp,
                app_id=app_id,
                filter=filter_json,
                name=name,
                status=BACKFILLING,
                created_at=datetime.now(UTC),
                version=stamp,
            )
            # Start the new generation and store it before stopping the old one: whatever
            # fails half-way, the stored row never names a generation that is not counted.
            try:
                markers = await self._mark(segment, "start")
            except KafkaUnavailable:
                await self._stop_quietly(segment)
                raise
            segment = replace(segment, markers=markers)
            await asyncio.to_thread(self.store.save, segment)
            if alive is not None:
                await self._stop_quietly(alive)
            logger.info("segment %s/%s defined, markers %s", org_id, segment.key, segment.markers)
            return segment, alive is None

    async def delete(self, segment: Segment) -> None:
        """Delete (readers get 404 at once), then stop the worker counting it."""
        async with self._lock:
            await asyncio.to_thread(
                self.store.save, replace(segment, status=DELETED, version=_stamp())
            )
            await self._stop_quietly(segment)

    async def _stop_quietly(self, segment: Segment) -> None:
        """Stop markers for a generation nobody reads any more. If Kafka refuses them, the
        worker keeps counting it into rows no answer uses: wasted work, never a wrong count."""
        try:
            await self._mark(segment, "stop")
        except KafkaUnavailable as exc:
            logger.warning("segment %s/%s not stopped: %s", segment.org_id, segment.key, exc)

    async def complete(self, segment: Segment) -> Segment:
        """Backfill ``segment`` if the sink has stored everything before its markers; return it
        as it is now (``ready`` if done). Concurrent calls for one segment share one attempt."""
        if segment.status != BACKFILLING:
            return segment
        attempt = self._completing.get(segment.key)
        if attempt is None:
            attempt = asyncio.create_task(self._complete(segment))
            self._completing[segment.key] = attempt
            attempt.add_done_callback(lambda _: self._completing.pop(segment.key, None))
        # Shielded: a client that goes away does not cancel the backfill others wait for.
        return await asyncio.shield(attempt)

    async def _complete(self, segment: Segment) -> Segment:
        stored = await committed_offsets(
            self._settings, self._settings.sink_group, self._topics.media_events
        )
        if any(stored.get(p, -1) <= offset for p, offset in enumerate(segment.markers)):
            return segment
        await asyncio.to_thread(backfill, self._ch, segment)
        ready = replace(segment, status=READY, version=segment.version + 1)
        await asyncio.to_thread(self.store.save, ready)
        logger.info("segment %s/%s backfilled", segment.org_id, segment.key)
        return ready

    async def wait_ready(self, segment: Segment, wait_s: float) -> Segment:
        """Complete ``segment``, trying for up to ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            segment = await self.complete(segment)
            if segment.status != BACKFILLING or time.monotonic() >= deadline:
                return segment
            await asyncio.sleep(0.1)

    async def complete_pending_forever(self, every_s: float = 1.0) -> None:
        """Finish backfills left behind (a PUT that answered 202, an API that was stopped)."""
        while True:
            try:
                for segment in await asyncio.to_thread(self.store.backfilling):
                    await self.complete(segment)
            except (ClickHouseUnavailable, KafkaUnavailable) as exc:
                logger.warning("pending segment backfills wait: %s", exc)
            await asyncio.sleep(every_s)
