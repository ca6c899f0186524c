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

Both settle the windows they wrote (``sessionflow.totals``) before they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.segmentfilter import to_sql
from sessionflow.segments import Segment
from sessionflow.timebuckets import STORED_UNITS, Unit
from sessionflow.totals import LAST_DATETIME_S, settle_range

# In session time: the range ``sessionflow reconcile`` rewrites.
IN_RANGE = "session_time >= toDateTime(%(lo)s) AND session_time < toDateTime(%(hi)s)"
# The version of a count rebuilt from raw rows: outranks the worker's (2 x offset) for the same
# data, not a later worker update.
REBUILT_VERSION = "max(source_offset) * 2 + 1"


def counts_from_sessions_sql(
    database: str, unit: Unit, segment: str, origin: str, version: str, where: str
) -> str:
    """``INSERT … SELECT`` of the ``unit`` count rows of the sessions matching ``where``: one
    row per org, app, window and source partition, counting distinct session ids. ``segment``,
    ``origin`` and ``version`` are SQL expressions."""
    width = unit.ms // 1000
    return f"""
INSERT INTO {database}.session_counts
    (org_id, app_id, segment_id, unit, bucket_start, source_partition, origin, count, version)
SELECT org_id, app_id, {segment}, '{unit.value}',
       toDateTime(intDiv(toUInt32(session_time), {width}) * {width}) AS bucket,
       source_partition, {origin}, uniqExact(session_id), {version}
FROM {database}.sessions
WHERE {where}
GROUP BY org_id, app_id, bucket, source_partition"""


def segment_counts_sql(
    database: str, unit: Unit, filter_sql: str, with_app: bool, backfill: bool
) -> str:
    app = "AND app_id = %(app)s" if with_app else ""
    if backfill:
        origin, version = "'backfill'", "1"
        side = "source_offset < arrayElement(%(markers)s, source_partition + 1)"
    else:
        origin, version = "'stream'", REBUILT_VERSION
        side = (
            "source_offset > arrayElement(%(markers)s, source_partition + 1) "
            f"AND source_partition < length(%(markers)s) AND {IN_RANGE}"
        )
    where = f"org_id = %(org)s {app} AND {side} AND {filter_sql}"
    return counts_from_sessions_sql(database, unit, "%(segment_key)s", origin, version, where)


def _run(
    clickhouse: ClickHouse,
    segment: Segment,
    backfill: bool,
    extra: dict[str, Any],
    units: Sequence[Unit] = STORED_UNITS,
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
    for unit in units:
        sql = segment_counts_sql(
            clickhouse.database, unit, filter_sql, segment.app_id is not None, backfill
        )
        clickhouse.execute(sql, values)
    # A backfill settles all of a segment's history: up to the last instant a DateTime holds.
    lo_s, hi_s = (0, LAST_DATETIME_S) if backfill else (extra["lo"], extra["hi"])
    settle_range(clickhouse, lo_s, hi_s, segment.org_id, segment.key)


def backfill(
    clickhouse: ClickHouse, segment: Segment, units: Sequence[Unit] = STORED_UNITS
) -> None:
    """Write the backfill rows of one segment (the sessions before its markers), for
    ``units`` (every stored unit unless told)."""
    _run(clickhouse, segment, True, {}, units)


def reconcile_segment(clickhouse: ClickHouse, segment: Segment, lo_s: int, hi_s: int) -> None:
    """Rewrite the worker's rows of one segment for sessions in [lo_s, hi_s) (epoch seconds)."""
    _run(clickhouse, segment, False, {"lo": lo_s, "hi": hi_s})
