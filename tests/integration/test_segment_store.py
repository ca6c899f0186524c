"""The read API's segment lookups on the real ClickHouse: a series reads a segment as it was at
most ``segment_cache_seconds`` ago, a change shows at once on the process that made it, and the
segment routes read it fresh."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from readapi.segments import SegmentStore
from sessionflow.segments import DELETED, READY, Segment


def segment(generation: int, status: str = READY) -> Segment:
    return Segment(
        org_id="org", segment_id="gold", generation=generation, app_id=None,
        filter='{"field":"customMetadata.tier","op":"eq","value":"gold"}', name="Gold",
        status=status, markers=(1, 2), created_at=datetime(2026, 11, 27, tzinfo=UTC),
        version=generation,
    )  # fmt: skip


def test_a_change_made_elsewhere_shows_within_the_cache_time(clickhouse):
    here = SegmentStore(clickhouse, cache_seconds=3600)
    elsewhere = SegmentStore(clickhouse, cache_seconds=3600)
    uncached = SegmentStore(clickhouse, cache_seconds=0)
    here.save(segment(1))
    assert elsewhere.recent("org", "gold") == segment(1)
    here.save(segment(2))
    assert here.recent("org", "gold") == segment(2)  # the process that changed it: at once
    assert elsewhere.recent("org", "gold") == segment(1)  # another: within its cache time
    assert elsewhere.get("org", "gold") == segment(2)  # the segment routes: fresh
    assert uncached.recent("org", "gold") == segment(2)
    here.save(replace(segment(2), status=DELETED, version=3))
    assert here.recent("org", "gold") is None and uncached.recent("org", "gold") is None
    assert elsewhere.recent("org", "nothing") is None
