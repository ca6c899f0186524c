"""Data series from the pre-aggregated ``session_counts`` table (never from raw sessions).

The requested buckets (hours or days in the offset of ``ending_at``) are tiled by the coarsest
stored unit that fits that offset: days for UTC, hours for whole-hour offsets, quarter-hours
otherwise. Each stored window's count is its newest version per source partition, summed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.timebuckets import SeriesBucket, Unit, offset_ms_of, series_buckets, storage_unit


def series_sql(database: str, with_apps: bool) -> str:
    """The aggregate query: one row per requested bucket index that has sessions."""
    apps = "AND app_id IN %(apps)s" if with_apps else ""
    return f"""
SELECT intDiv(toInt64(toUInt32(bucket_start)) - %(first_s)s, %(width_s)s) AS idx, sum(c)
FROM (
    SELECT app_id, bucket_start, source_partition, argMax(count, version) AS c
    FROM {database}.session_counts
    WHERE org_id = %(org)s {apps} AND segment_id = %(segment)s AND unit = %(unit)s
      AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start < toDateTime(%(end_s)s)
    GROUP BY app_id, bucket_start, source_partition
)
GROUP BY idx"""


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
    if apps is not None and not apps:
        return [0] * len(buckets)
    params: dict[str, Any] = {
        "org": org_id,
        "segment": segment_id,
        "unit": stored.value,
        "first_s": buckets[0].start_ms // 1000,
        "end_s": buckets[-1].end_ms // 1000,
        "width_s": (buckets[0].end_ms - buckets[0].start_ms) // 1000,
    }
    if apps is not None:
        params["apps"] = tuple(apps)
    rows = await clickhouse.aexecute(series_sql(clickhouse.database, apps is not None), params)
    counts = [0] * len(buckets)
    for idx, total in rows:
        if 0 <= idx < len(counts):
            counts[int(idx)] = int(total)
    return counts
