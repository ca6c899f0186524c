"""Data series from the pre-aggregated ``session_counts`` table (never from raw sessions).

The requested buckets (hours or days in the offset of ``ending_at``) are tiled by the coarsest
stored unit that fits that offset: days for UTC, hours for whole-hour offsets, quarter-hours
otherwise. Each stored window's count is its newest version per source partition, summed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.segmentfilter import to_sql
from sessionflow.segments import Segment
from sessionflow.timebuckets import SeriesBucket, Unit, offset_ms_of, series_buckets, storage_unit

# Days in an offset that is not a whole hour (+05:30, +05:45, -03:30 ...): every UTC hour that
# no day boundary splits is read as one hour row, and only the split hours as quarter rows
# (23 hour rows + 4 quarter rows a day instead of 96 quarter rows).
_MIXED_UNITS = """(
        (unit = 'hour'
         AND (toUInt32(bucket_start) + %(offset_s)s) %% %(width_s)s <= %(width_s)s - 3600)
        OR (unit = 'quarter'
         AND (intDiv(toUInt32(bucket_start), 3600) * 3600 + %(offset_s)s) %% %(width_s)s
             > %(width_s)s - 3600))"""


def series_sql(database: str, with_apps: bool, mixed: bool = False) -> str:
    """The aggregate query: one row per requested bucket index that has sessions."""
    apps = "AND app_id IN %(apps)s" if with_apps else ""
    units = _MIXED_UNITS if mixed else "unit = %(unit)s"
    return f"""
SELECT intDiv(toInt64(toUInt32(bucket_start)) - %(first_s)s, %(width_s)s) AS idx, sum(c)
FROM (
    SELECT app_id, unit, bucket_start, source_partition, origin, argMax(count, version) AS c
    FROM {database}.session_counts
    WHERE org_id = %(org)s AND segment_id = %(segment)s AND {units}
      AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start < toDateTime(%(end_s)s)
      {apps}
    GROUP BY app_id, unit, bucket_start, source_partition, origin
)
GROUP BY idx"""


def plan(ending_at: Any, unit: Unit, length: int) -> tuple[list[SeriesBucket], Unit]:
    buckets = series_buckets(ending_at, unit, length)
    return buckets, storage_unit(unit, offset_ms_of(ending_at))


def session_series_query(
    database: str, with_apps: bool, segment_id: str, buckets: list[SeriesBucket], stored: Unit
) -> tuple[str, dict[str, Any]]:
    """The session series query of ``buckets`` and its parameters beyond those of ``_indexed``."""
    extra: dict[str, Any] = {"segment": segment_id, "unit": stored.value}
    width_ms = buckets[0].end_ms - buckets[0].start_ms
    mixed = stored is Unit.QUARTER and width_ms == Unit.DAY.ms
    if mixed:
        # The offset east of UTC, from where the day buckets start.
        extra["offset_s"] = (-buckets[0].start_ms // 1000) % (width_ms // 1000)
    return series_sql(database, with_apps, mixed), extra


async def session_series(
    clickhouse: ClickHouse,
    org_id: str,
    apps: Sequence[str] | None,
    segment_id: str,
    buckets: list[SeriesBucket],
    stored: Unit,
) -> list[int]:
    """Session counts of ``buckets`` (zero-filled), for ``apps`` (``None``: every app)."""
    sql, extra = session_series_query(
        clickhouse.database, apps is not None, segment_id, buckets, stored
    )
    return await _indexed(clickhouse, sql, org_id, apps, buckets, extra)


async def event_series(
    clickhouse: ClickHouse,
    org_id: str,
    apps: Sequence[str] | None,
    event_type: str,
    buckets: list[SeriesBucket],
) -> list[int]:
    """Media events of one type per bucket, from the quarter-hour ``event_counts`` view."""
    apps_sql = "AND app_id IN %(apps)s" if apps is not None else ""
    sql = f"""
SELECT intDiv(toInt64(toUInt32(bucket_start)) - %(first_s)s, %(width_s)s) AS idx, sum(events)
FROM {clickhouse.database}.event_counts
WHERE org_id = %(org)s AND event_type = %(event)s {apps_sql}
  AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start < toDateTime(%(end_s)s)
GROUP BY idx"""
    return await _indexed(clickhouse, sql, org_id, apps, buckets, {"event": event_type})


async def dau_series(
    clickhouse: ClickHouse, org_id: str, apps: Sequence[str] | None, buckets: list[SeriesBucket]
) -> list[int]:
    """Distinct visitors per day (``visitor.marketingCloudUserId``, else
    ``analytics.visitorId``), merged exactly from the quarter-hour ``visitor_quarters`` view."""
    apps_sql = "AND app_id IN %(apps)s" if apps is not None else ""
    sql = f"""
SELECT intDiv(toInt64(toUInt32(bucket_start)) - %(first_s)s, %(width_s)s) AS idx,
       uniqExactMerge(visitors)
FROM {clickhouse.database}.visitor_quarters
WHERE org_id = %(org)s {apps_sql}
  AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start < toDateTime(%(end_s)s)
GROUP BY idx"""
    return await _indexed(clickhouse, sql, org_id, apps, buckets, {})


def bucket_params(org_id: str, buckets: list[SeriesBucket]) -> dict[str, Any]:
    """The parameters every series query takes."""
    return {
        "org": org_id,
        "first_s": buckets[0].start_ms // 1000,
        "end_s": buckets[-1].end_ms // 1000,
        "width_s": (buckets[0].end_ms - buckets[0].start_ms) // 1000,
    }


async def _indexed(
    clickhouse: ClickHouse,
    sql: str,
    org_id: str,
    apps: Sequence[str] | None,
    buckets: list[SeriesBucket],
    extra: dict[str, Any],
) -> list[int]:
    if apps is not None and not apps:
        return [0] * len(buckets)
    params: dict[str, Any] = {**bucket_params(org_id, buckets), **extra}
    if apps is not None:
        params["apps"] = tuple(apps)
    counts = [0] * len(buckets)
    for idx, total in await clickhouse.aexecute(sql, params):
        if 0 <= idx < len(counts):
            counts[int(idx)] = int(total)
    return counts


async def concurrent_series(
    clickhouse: ClickHouse, org_id: str, apps: Sequence[str] | None, buckets: list[SeriesBucket]
) -> list[int]:
    """Concurrent viewers: distinct sessions that sent an event in each minute (the
    ``concurrent_minutes`` view, merged across apps); for hour buckets, the busiest minute."""
    apps_sql = "AND app_id IN %(apps)s" if apps is not None else ""
    sql = f"""
SELECT intDiv(toInt64(toUInt32(minute)) - %(first_s)s, 60) AS idx, uniqExactMerge(viewers)
FROM {clickhouse.database}.concurrent_minutes
WHERE org_id = %(org)s {apps_sql}
  AND minute >= toDateTime(%(first_s)s) AND minute < toDateTime(%(end_s)s)
GROUP BY idx"""
    if apps is not None and not apps:
        return [0] * len(buckets)
    params = bucket_params(org_id, buckets)
    if apps is not None:
        params["apps"] = tuple(apps)
    minutes: dict[int, int] = {int(i): int(n) for i, n in await clickhouse.aexecute(sql, params)}
    per_bucket = (buckets[0].end_ms - buckets[0].start_ms) // 60_000
    return [
        max((int(minutes.get(b * per_bucket + m, 0)) for m in range(per_bucket)), default=0)
        for b in range(len(buckets))
    ]


# Each QoE metric (SPEC §3) over the closed sessions that started in a bucket, as an aggregate
# of ``session_summaries`` rows; NaN (no session it applies to) is answered as null.
QOE_METRICS: dict[str, str] = {
    "startup_time_ms": "avgIf(toFloat64(assumeNotNull(startup_time_ms)), "
    "isNotNull(startup_time_ms))",
    "played_seconds": "sum(played_ms) / 1000",
    "rebuffer_ratio": "sum(buffering_ms) / (sum(buffering_ms) + sum(played_ms))",
    "completion_rate": "avg(completed)",
    "exit_before_start_rate": "avg(exited_before_start)",
}


async def qoe_series(
    clickhouse: ClickHouse,
    org_id: str,
    apps: Sequence[str] | None,
    metric: str,
    buckets: list[SeriesBucket],
    segment: Segment | None = None,
) -> list[float | None]:
    """``metric`` per bucket of session time, over the sessions closed so far (``None`` for a
    bucket without any, or where the metric has no denominator); with ``segment``, over the
    sessions its filter matches (their sessionStart in ``sessions``), whenever they started."""
    if apps is not None and not apps:
        return [None] * len(buckets)
    apps_sql = "AND app_id IN %(apps)s" if apps is not None else ""
    in_range = "session_time >= toDateTime(%(first_s)s) AND session_time < toDateTime(%(end_s)s)"
    params = bucket_params(org_id, buckets)
    segment_sql = ""
    if segment is not None:
        filter_sql, filter_params = to_sql(segment.node, "seg")
        params.update(filter_params)
        segment_app = ""
        if segment.app_id is not None:
            segment_app = "AND app_id = %(segment_app)s"
            params["segment_app"] = segment.app_id
        segment_sql = f"""
  AND session_id IN (SELECT session_id FROM {clickhouse.database}.sessions
                     WHERE org_id = %(org)s {apps_sql} {segment_app} AND {in_range}
                       AND ({filter_sql}))"""
    sql = f"""
SELECT intDiv(toInt64(toUInt32(session_time)) - %(first_s)s, %(width_s)s) AS idx,
       {QOE_METRICS[metric]}
FROM {clickhouse.database}.session_summaries
WHERE org_id = %(org)s {apps_sql}
  AND {in_range}{segment_sql}
GROUP BY idx"""
    if apps is not None:
        params["apps"] = tuple(apps)
    values: list[float | None] = [None] * len(buckets)
    for idx, value in await clickhouse.aexecute(sql, params):
        if 0 <= idx < len(values) and value is not None and math.isfinite(value):
            values[int(idx)] = float(value)
    return values
