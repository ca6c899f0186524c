"""The segment model: one ``Segment`` from its definition (read API) to its counting (worker)
and its backfill (ClickHouse).

A segment is defined by an org, an optional app and a filter (``sessionflow.segmentfilter``).
Each definition is a *generation*; the worker and ``session_counts`` know it by its ``key``,
``<segment_id>@<generation>``. The read API writes a start (or stop) marker for it into every
partition of media-events (``schemas/segment_marker.v1.avsc``, built by ``Segment.marker``);
the worker rebuilds the same ``Segment`` from the marker (``Segment.of_marker``) and keeps, per
partition, the ``Span`` of offsets between its markers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from sessionflow.segmentfilter import Node, parse_filter

BACKFILLING, READY, DELETED = "backfilling", "ready", "deleted"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Segment:
    """One generation of a segment, and where its definition stands."""

    org_id: str
    segment_id: str
    generation: int
    app_id: str | None
    filter: str  # canonical JSON of the filter
    name: str = ""
    status: str = BACKFILLING
    markers: tuple[int, ...] = ()  # its start marker's offset, by media-events partition
    created_at: datetime = EPOCH
    version: int = 0

    @property
    def key(self) -> str:
        """Its ``segment_id`` in ``session_counts``, in markers and in the worker."""
        return f"{self.segment_id}@{self.generation}"

    @property
    def node(self) -> Node:
        """The filter, parsed (raises ``InvalidInput`` if it is not a valid filter)."""
        return parse_filter(orjson.loads(self.filter))

    def marker(self, action: str) -> dict[str, Any]:
        """The ``SegmentMarker`` record that starts (``"start"``) or stops counting it."""
        return {
            "org_id": self.org_id,
            "segment_key": self.key,
            "action": action,
            "app_id": self.app_id,
            "filter": self.filter,
        }

    @classmethod
    def of_marker(cls, marker: Mapping[str, Any]) -> Segment:
        """The segment a ``SegmentMarker`` record names."""
        segment_id, _, generation = str(marker["segment_key"]).rpartition("@")
        return cls(
            org_id=marker["org_id"],
            segment_id=segment_id,
            generation=int(generation) if generation.isdigit() else 0,
            app_id=marker["app_id"],
            filter=marker["filter"],
        )

    def public(self) -> dict[str, Any]:
        """The read API's JSON view of it."""
        return {
            "segment_id": self.segment_id,
            "name": self.name,
            "app_id": self.app_id,
            "filter": orjson.loads(self.filter),
            "status": self.status,
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass(frozen=True)
class Span:
    """A segment as seen on one media-events partition: counted for offsets in
    (``start``, ``stop``), ``stop`` unknown until its stop marker."""

    segment: Segment
    start: int
    stop: int | None = None

    def covers(self, offset: int) -> bool:
        return self.start < offset and (self.stop is None or offset < self.stop)

    def stopped_at(self, offset: int) -> Span:
        return replace(self, stop=offset)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, as the worker's table stores it."""
        return {
            "key": self.segment.key,
            "org": self.segment.org_id,
            "app": self.segment.app_id,
            "filter": self.segment.filter,
            "start": self.start,
            "stop": self.stop,
        }

    @classmethod
    def of_json(cls, entry: Mapping[str, Any]) -> Span:
        marker = {
            "org_id": entry["org"],
            "segment_key": entry["key"],
            "app_id": entry["app"],
            "filter": entry["filter"],
        }
        return cls(Segment.of_marker(marker), int(entry["start"]), entry["stop"])
