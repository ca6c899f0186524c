"""A segment's counts computed from the raw ``sessions``: its backfill, and its reconciliation.

When a segment is defined, a start marker goes into every partition of the media-events topic
(``streams.segments``). The worker counts the sessions after the marker; the **backfill**
counts, per partition, those before it (``source_offset < marker``), once the sink has stored
all of them. Together they count every matching session exactly once. Backfill rows have
``origin = 'backfill'`` (so they never collide with the worker's rows) and a fixed version:
running it again writes the same rows.

**Reconciling** a segment (``sessionflow reconcile``) rewrites the worker's rows (``origin =
'stream'``, sessions after the marker) of a time range, with the version rule of
``sessionflow.reconcile``: it repairs what the worker could not count (sessions dead-lettered
as ``late``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.segmentfilter import Node, to_sql
from sessionflow.timebuckets import STORED_UNITS, Unit


@dataclass(frozen=True)
class SegmentCount:
    """What counting one segment generation from ``sessions`` needs."""

    org_id: str
    app_id: str | None
    key: str  # its segment_id in session_counts
    node: Node
    markers: Sequence[int]  # its start marker's offset, by partition


def segment_counts_sql(
    database: str, unit: Unit, filter_sql: str, with_app: bool, backfill: bool
) -> str:
    width = unit.ms // 1000
    app = "AND app_id = %(app)s" if with_app else ""
    if backfill:
        origin, version = "'backfill'", "1"
        where = "source_offset < arrayElement(%(markers)s, source_partition + 1)"
    else:
        origin, version = "'stream'", "max(source_offset) * 2 + 1"
        where = (
            "source_offset > arrayElement(%(markers)s, source_partition + 1) "
            "AND source_partition < length(%(markers)s) "
            "AND session_time >= toDateTime(%(lo)s) AND session_time < toDateTime(%(hi)s)"
        )
    return f"""
INSERT INTO {database}.session_counts
    (org_id, app_id, segment_id, unit, bucket_start, source_partition, origin, count, version)
SELECT org_id, app_id, %(segment_key)s, '{unit.value}',
       toDateTime(intDiv(toUInt32(session_time), {width}) * {width}) AS bucket,
       source_partition, {origin}, uniqExact(session_id), {version}
FROM {database}.sessions
WHERE org_id = %(org)s {app}
  AND {where}
  AND {filter_sql}
GROUP BY org_id, app_id, bucket, source_partition"""


def _run(
    clickhouse: ClickHouse, segment: SegmentCount, backfill: bool, extra: dict[str, Any]
) -> None:
    filter_sql, params = to_sql(segment.node)
    values: dict[str, Any] = {
        **params,
        **extra,
        "org": segment.org_id,
        "app": segment.app_id or "",
        "segment_key": segment.key,
        "markers": list(segment.markers),
    }
    for unit in STORED_UNITS:
        sql = segment_counts_sql(
            clickhouse.database, unit, filter_sql, segment.app_id is not None, backfill
        )
        clickhouse.execute(sql, values)


def backfill(clickhouse: ClickHouse, segment: SegmentCount) -> None:
    """Write the backfill rows of one segment (the sessions before its markers)."""
    _run(clickhouse, segment, True, {})


def reconcile_segment(clickhouse: ClickHouse, segment: SegmentCount, lo_s: int, hi_s: int) -> None:
    """Rewrite the worker's rows of one segment for sessions in [lo_s, hi_s) (epoch seconds)."""
    _run(clickhouse, segment, False, {"lo": lo_s, "hi": hi_s})
