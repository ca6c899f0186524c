"""Which segments the worker counts a session into (pure).

The analytics API defines a segment by writing a start marker into every partition of the
media-events topic (``schemas/segment_marker.v1.avsc``); deleting or redefining it writes a stop
marker. Per partition, the worker keeps the segments seen there with the offsets of their
markers, in a Faust table keyed by partition (so its changelog is co-partitioned with the
source). A session at offset ``o`` counts into a segment when ``start < o < stop`` and it
matches the filter; sessions before the start marker are the backfill's (``sessionflow.backfill``).
Keeping the marker offsets makes replays safe: a replayed record is judged by its own offset,
not by when the worker first saw the marker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from sessionflow.errors import InvalidInput
from sessionflow.segmentfilter import compile_matcher, parse_filter

logger = logging.getLogger(__name__)


def _nothing(record: Mapping[str, Any]) -> bool:
    return False


# A segment seen on one partition: JSON-ready, as the Faust table stores it.
Entry = dict[str, Any]


def apply_marker(entries: list[Entry], marker: Mapping[str, Any], offset: int) -> list[Entry]:
    """``entries`` after the marker at ``offset`` (unchanged if it was applied already)."""
    key = marker["segment_key"]
    known = next((e for e in entries if e["key"] == key), None)
    if marker["action"] == "start":
        if known is not None:
            return entries
        entry = {
            "key": key,
            "org": marker["org_id"],
            "app": marker["app_id"],
            "filter": marker["filter"],
            "start": offset,
            "stop": None,
        }
        return [*entries, entry]
    if known is None or known["stop"] is not None:
        return entries
    return [{**e, "stop": offset} if e["key"] == key else e for e in entries]


class Matchers:
    """Compiled filters, by segment key (a key's filter never changes: a redefinition is a new
    generation with a new key)."""

    def __init__(self) -> None:
        self._compiled: dict[str, Callable[[Mapping[str, Any]], bool]] = {}

    def get(self, entry: Entry) -> Callable[[Mapping[str, Any]], bool]:
        matcher = self._compiled.get(entry["key"])
        if matcher is None:
            try:
                matcher = compile_matcher(parse_filter(orjson.loads(entry["filter"])))
            except (InvalidInput, orjson.JSONDecodeError):
                # The API validates filters before publishing; a marker that still fails
                # matches nothing rather than stopping the count of every other session.
                logger.error("segment %s has an unreadable filter", entry["key"])
                matcher = _nothing
            self._compiled[entry["key"]] = matcher
        return matcher


def segments_of(
    entries: list[Entry], record: Mapping[str, Any], offset: int, matchers: Matchers
) -> list[str]:
    """The keys of the segments the sessionStart ``record`` at ``offset`` counts into."""
    found = []
    for entry in entries:
        if entry["org"] != record["org_id"] or offset <= entry["start"]:
            continue
        if entry["stop"] is not None and offset >= entry["stop"]:
            continue
        if entry["app"] is not None and entry["app"] != record["app_id"]:
            continue
        if matchers.get(entry)(record):
            found.append(entry["key"])
    return found
