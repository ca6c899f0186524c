"""Data series from the pre-aggregated ``session_totals`` table (never from raw sessions).

Each requested bucket (an hour or a day in the offset of ``ending_at``) is a sum of stored
quarter-hour, hour and day counts, some taken away (``sessionflow.timebuckets.series_tiling``:
a -05:00 day is its UTC day less that day's first five hours plus the next day's). The query
reads those stored buckets only: each one's newest total (``sessionflow.totals``: the source
partitions' counts already added up), from ``session_totals_all_apps`` (summed over the apps
already, and with hours starting at :15, :30 and :45 besides the whole ones) unless the
series names apps, then from ``session_totals``, summed over them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.segmentfilter import to_sql
from sessionflow.segments import Segment
from sessionflow.tables import QUARTER_PHASE
from sessionflow.timebuckets import SeriesBucket, SeriesTiling, Unit, series_tiling

# Quarter rows are named by their time of day, as ``session_totals``' sorting key has them.
_QUARTER_PHASE = QUARTER_PHASE.replace("%", "%%")


def series_sql(database: str, with_apps: bool, units: Sequence[Unit]) -> str:
    """The aggregate query: (unit, start, count) of the stored buckets of ``units`` in
    [``first_s``, ``end_s``) that start at one of ``%(<unit>_phases)s`` and have sessions;
    a phase is seconds into a series bucket (``width_s``), or into a day for quarters."""
    # Named apps: their own totals; else the totals summed over the apps, a row per window.
    table, apps = (
        ("session_totals", "AND app_id IN %(apps)s")
        if with_apps
        else ("session_totals_all_apps", "")
    )
    listed = " OR ".join(
        f"(unit = '{unit.value}' AND "
        + (_QUARTER_PHASE if unit is Unit.QUARTER else "toUInt32(bucket_start) %% %(width_s)s")
        + f" IN %({unit.value}_phases)s)"
        for unit in units
    )
    # FINAL: each stored bucket's newest row, as argMax(sessions, version) grouped by them in
    # a subquery would pick, in one pass and one level (a 100-day UTC series' query 5.7 -> 3.6
    # ms on ClickHouse 18.16: most of a small query's time there is analysing it).
    return f"""
SELECT unit, toUInt32(bucket_start) AS start, sum(sessions)
FROM {database}.{table} FINAL
WHERE org_id = %(org)s AND segment_id = %(segment)s AND ({listed})
  AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start < toDateTime(%(end_s)s)
  {apps}
GROUP BY unit, start"""


def session_series_query(
    database: str, with_apps: bool, segment_id: str, tiling: SeriesTiling
) -> tuple[str, dict[str, Any]]:
    """The query of the stored buckets ``tiling`` reads, and its parameters besides the org's
    and the apps'.

    A series' buckets are evenly spaced, so the stored buckets it reads fall at a few phases
    of the series' width (a -05:00 day series: days at 0, hours at 0 to 4 hours into the day):
    the query names those phases and the time range, not each bucket (a long list of literals
    took ClickHouse 18.16 ~7 µs each to parse)."""
    width_s = tiling.width_ms // 1000
    day_s = Unit.DAY.ms // 1000
    last_shift_s = (tiling.length - 1) * width_s
    pattern = [(t.unit, t.start_ms // 1000) for t in tiling.pattern]
    units = sorted({unit for unit, _ in pattern})
    params: dict[str, Any] = {
        "segment": segment_id,
        "width_s": width_s,
        "first_s": min(start for _, start in pattern),
        "end_s": max(start + unit.ms // 1000 for unit, start in pattern) + last_shift_s,
    }
    for unit in units:
        starts = [start for u, start in pattern if u is unit]
        if unit is Unit.QUARTER:  # by time of day: every width_s through the day
            phases = {(s + k * width_s) % day_s for s in starts for k in range(day_s // width_s)}
        else:
            phases = {s % width_s for s in starts}
        params[f"{unit.value}_phases"] = tuple(sorted(phases))
    return series_sql(database, with_apps, units), params


def combine(tiling: SeriesTiling, rows: Sequence[tuple[str, int, int]]) -> list[int]:
    """Each bucket's count from the stored buckets' (unit, start seconds, count) rows (rows
    of stored buckets no bucket uses are ignored)."""
    origin_s = tiling.pattern[0].start_ms // 1000
    relative = tuple((t.unit.value, t.start_ms // 1000 - origin_s, t.sign) for t in tiling.pattern)
    uses = _uses(relative, tiling.width_ms // 1000, tiling.length)
    counts = [0] * tiling.length
    for unit, start, n in rows:  # (str, int, int), as the driver reads them
        for k, sign in uses.get((unit, start - origin_s), ()):
            counts[k] += sign * n
    # Never below 0: an hour ahead of its day could only show while `sessionflow reconcile`
    # rewrites a day unit by unit, for the seconds it takes.
    return [max(0, n) for n in counts]


@lru_cache(maxsize=128)  # at most 100 x 15 entries each: a few MB whatever is asked
def _uses(
    pattern: tuple[tuple[str, int, int], ...], width_s: int, length: int
) -> dict[tuple[str, int], tuple[tuple[int, int], ...]]:
    """For a tiling (its terms' unit, start relative to the first and sign): the buckets each
    stored bucket counts in, and with which sign. The same for every series of that shape
    (time of day, width, length), so worked out once for them."""
    uses: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for unit, start_s, sign in pattern:
        for k in range(length):
            uses.setdefault((unit, start_s + k * width_s), []).append((k, sign))
    return {key: tuple(found) for key, found in uses.items()}


async def session_series(
    clickhouse: ClickHouse,
    org_id: str,
    apps: Sequence[str] | None,
    segment_id: str,
    buckets: list[SeriesBucket],
) -> list[int]:
    """Session counts of ``buckets`` (zero-filled), for ``apps`` (``None``: every app)."""
    if not buckets or (apps is not None and not apps):
        return [0] * len(buckets)
    # Over every app, hours starting at :15, :30 and :45 are stored as well.
    tiling = series_tiling(buckets, shifted_hours=apps is None)
    sql, params = session_series_query(clickhouse.database, apps is not None, segment_id, tiling)
    params["org"] = org_id
    if apps is not None:
        params["apps"] = tuple(apps)
    return combine(tiling, await clickhouse.aexecute(sql, params))


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
