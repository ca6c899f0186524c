"""Which segments the worker counts a session into (pure).

The read API defines a segment by writing a start marker into every partition of the
media-events topic (``sessionflow.segments``); deleting or redefining it writes a stop marker.
Per partition, the worker keeps the ``Span`` of each segment seen there, in a Faust table keyed
by partition (so its changelog is co-partitioned with the source). A session at offset ``o``
counts into a segment when ``start < o < stop`` and it matches the filter; sessions before the
start marker are the backfill's (``sessionflow.backfill``). Keeping the marker offsets makes
replays safe: a replayed record is judged by its own offset, not by when the worker first saw
the marker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from sessionflow.errors import InvalidInput
from sessionflow.segmentfilter import compile_matcher
from sessionflow.segments import Segment, Span

logger = logging.getLogger(__name__)


def _nothing(record: Mapping[str, Any]) -> bool:
    return False


def apply_marker(spans: list[Span], marker: Mapping[str, Any], offset: int) -> list[Span]:
    """``spans`` after the marker at ``offset`` (the same list if it was applied already)."""
    segment = Segment.of_marker(marker)
    known = next((s for s in spans if s.segment.key == segment.key), None)
    if marker["action"] == "start":
        return spans if known is not None else [*spans, Span(segment, offset)]
    if known is None or known.stop is not None:
        return spans
    return [s.stopped_at(offset) if s is known else s for s in spans]


class Matchers:
    """Compiled filters, by segment key (a key's filter never changes: a redefinition is a new
    generation with a new key)."""

    def __init__(self) -> None:
        self._compiled: dict[str, Callable[[Mapping[str, Any]], bool]] = {}

    def get(self, segment: Segment) -> Callable[[Mapping[str, Any]], bool]:
        matcher = self._compiled.get(segment.key)
        if matcher is None:
            try:
                matcher = compile_matcher(segment.node)
            except (InvalidInput, orjson.JSONDecodeError):
                # The API validates filters before publishing; a marker that still fails
                # matches nothing rather than stopping the count of every other session.
                logger.error("segment %s has an unreadable filter", segment.key)
                matcher = _nothing
            self._compiled[segment.key] = matcher
        return matcher


def segments_of(
    spans: list[Span], record: Mapping[str, Any], offset: int, matchers: Matchers
) -> list[str]:
    """The keys of the segments the sessionStart ``record`` at ``offset`` counts into."""
    found = []
    for span in spans:
        segment = span.segment
        if segment.org_id != record["org_id"] or not span.covers(offset):
            continue
        if segment.app_id is not None and segment.app_id != record["app_id"]:
            continue
        if matchers.get(segment)(record):
            found.append(segment.key)
    return found
