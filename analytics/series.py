"""Data series from the pre-aggregated ``session_counts`` table (never from raw sessions).

Hours in the offset of ``ending_at`` are read as hour rows (whole-hour offsets) or quarter-hour
rows (+05:45 …); UTC days as day rows; days in any other offset as UTC day rows plus and minus
one edge piece per day (``day_edges``). Each stored window's count is its newest version per
source partition and origin, summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.timebuckets import SeriesBucket, Unit, offset_ms_of, series_buckets, storage_unit

_SIGNED_DAYS = """
SELECT i, sum(v)
FROM (
    SELECT intDiv(toInt64(toUInt32(bucket_start)) - %(first_s)s + 172800, 86400) - 2 AS t_idx,
           if(unit = 'day', t_idx + %(day_shift)s,
              if(sign = 1, t_idx, t_idx + %(edge_shift)s)) AS i,
           toInt64(c) * sign AS v
    FROM (
        SELECT app_id, unit, bucket_start, source_partition, origin,
               argMax(count, version) AS c
        FROM {database}.session_counts
        WHERE org_id = %(org)s AND segment_id = %(segment)s
          AND bucket_start >= toDateTime(%(lo_s)s) AND bucket_start < toDateTime(%(hi_s)s)
          AND ((unit = 'day' AND bucket_start >= toDateTime(%(days_from)s)
                AND bucket_start < toDateTime(%(days_to)s))
            OR (unit = 'hour' AND bucket_start >= toDateTime(%(edges_from)s)
                AND bucket_start < toDateTime(%(edges_to)s)
                AND toUInt32(bucket_start) %% 86400 >= %(hour_lo)s
                AND toUInt32(bucket_start) %% 86400 < %(hour_hi)s)
            OR (unit = 'quarter' AND bucket_start >= toDateTime(%(edges_from)s)
                AND bucket_start < toDateTime(%(edges_to)s)
                AND toUInt32(bucket_start) %% 86400 >= %(quarter_lo)s
                AND toUInt32(bucket_start) %% 86400 < %(quarter_hi)s))
          {apps}
        GROUP BY app_id, unit, bucket_start, source_partition, origin
    )
    ARRAY JOIN if(unit = 'day', [toInt8(1)], [toInt8(1), toInt8(-1)]) AS sign
)
GROUP BY i"""


def day_edges(first_s: int, days: int) -> dict[str, int]:
    """How ``days`` local days starting at ``first_s`` (not a UTC midnight) are read from UTC
    day rows plus and minus an edge piece of each UTC day (query parameters of
    ``_SIGNED_DAYS``).

    With ``r`` the UTC time of day at which local days start, a local day is
    ``day(d) - head(d) + head(d+1)`` (head: [00:00, r)) or ``tail(d) + day(d+1) - tail(d+1)``
    (tail: [r, 24:00)); the shorter piece is used, read as whole hour rows and the quarter rows
    of the hour ``r`` splits. Consecutive days share their edges: ``days`` day rows and
    ``days + 1`` edges instead of 24 to 27 rows a day. An edge row adds to the local day it lies
    in and subtracts from its neighbour; each count record carries a consistent snapshot of its
    windows (``streams.counting.count_record``), so the difference never counts a session the
    day rows do not hold.
    """
    r = first_s % 86400
    if r == 0:
        raise ValueError("UTC-aligned days are plain day rows")
    end = first_s + days * 86400
    split = r // 3600 * 3600
    if r <= 43200:  # head: [0, r)
        hour_lo, hour_hi, quarter_lo, quarter_hi = 0, split, split, r
        day_shift, edge_shift = 1, 1
        days_from, days_to = first_s - r, end - r
        edges_from, edges_to = first_s - r, end
    else:  # tail: [r, 86400)
        ceil = -(-r // 3600) * 3600
        hour_lo, hour_hi, quarter_lo, quarter_hi = ceil, 86400, r, ceil
        day_shift, edge_shift = 0, -1
        days_from, days_to = first_s - r + 86400, end - r + 86400
        edges_from, edges_to = first_s, end + 86400 - r
    return {
        "hour_lo": hour_lo, "hour_hi": hour_hi, "quarter_lo": quarter_lo,
        "quarter_hi": quarter_hi, "day_shift": day_shift, "edge_shift": edge_shift,
        "days_from": days_from, "days_to": days_to, "edges_from": edges_from,
        "edges_to": edges_to, "lo_s": min(days_from, edges_from), "hi_s": max(days_to, edges_to),
    }  # fmt: skip


def series_sql(database: str, with_apps: bool) -> str:
    """The aggregate query: one row per requested bucket index that has sessions."""
    apps = "AND app_id IN %(apps)s" if with_apps else ""
    return f"""
SELECT intDiv(toInt64(toUInt32(bucket_start)) - %(first_s)s, %(width_s)s) AS idx, sum(c)
FROM (
    SELECT app_id, unit, bucket_start, source_partition, origin, argMax(count, version) AS c
    FROM {database}.session_counts
    WHERE org_id = %(org)s AND segment_id = %(segment)s AND unit = %(unit)s
      AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start < toDateTime(%(end_s)s)
      {apps}
    GROUP BY app_id, unit, bucket_start, source_partition, origin
)
GROUP BY idx"""


def signed_days_sql(database: str, with_apps: bool) -> str:
    apps = "AND app_id IN %(apps)s" if with_apps else ""
    return _SIGNED_DAYS.replace("{database}", database).replace("{apps}", apps)


def plan(ending_at: Any, unit: Unit, length: int) -> tuple[list[SeriesBucket], Unit]:
    buckets = series_buckets(ending_at, unit, length)
    return buckets, storage_unit(unit, offset_ms_of(ending_at))


async def session_series(
    clickhouse: ClickHouse,
    org_id: str,
    apps: Sequence[str] | None,
    segment_id: str,
    buckets: list[SeriesBucket],
    stored: Unit,
) -> list[int]:
    """Session counts of ``buckets`` (zero-filled), for ``apps`` (``None``: every app)."""
    extra: dict[str, Any] = {"segment": segment_id, "unit": stored.value}
    first_s = buckets[0].start_ms // 1000
    if buckets[0].end_ms - buckets[0].start_ms == Unit.DAY.ms and first_s % 86400:
        extra.update(day_edges(first_s, len(buckets)))
        sql = signed_days_sql(clickhouse.database, apps is not None)
    else:
        sql = series_sql(clickhouse.database, apps is not None)
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
    params: dict[str, Any] = {
        "org": org_id,
        "first_s": buckets[0].start_ms // 1000,
        "end_s": buckets[-1].end_ms // 1000,
        "width_s": (buckets[0].end_ms - buckets[0].start_ms) // 1000,
        **extra,
    }
    if apps is not None:
        params["apps"] = tuple(apps)
    counts = [0] * len(buckets)
    for idx, total in await clickhouse.aexecute(sql, params):
        if 0 <= idx < len(counts):
            counts[int(idx)] = int(total)
    return counts
