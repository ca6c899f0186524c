"""A new segment's counts for the sessions stored before it existed, from the raw ``sessions``.

When a segment is defined, a start marker goes into every partition of the media-events topic
(``streams.segments``). The worker counts the sessions after the marker; this counts, per
partition, those before it (``source_offset < marker``), once the sink has stored all of them.
Together they count every matching session exactly once. The rows have ``origin = 'backfill'``
(so they never collide with the worker's rows) and a fixed version: running it again writes the
same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.segmentfilter import Node, to_sql
from sessionflow.timebuckets import STORED_UNITS, Unit


def backfill_sql(database: str, unit: Unit, filter_sql: str, with_app: bool) -> str:
    width = unit.ms // 1000
    app = "AND app_id = %(app)s" if with_app else ""
    return f"""
INSERT INTO {database}.session_counts
    (org_id, app_id, segment_id, unit, bucket_start, source_partition, origin, count, version)
SELECT org_id, app_id, %(segment_key)s, '{unit.value}',
       toDateTime(intDiv(toUInt32(session_time), {width}) * {width}) AS bucket,
       source_partition, 'backfill', uniqExact(session_id), 1
FROM {database}.sessions
WHERE org_id = %(org)s {app}
  AND source_offset < arrayElement(%(markers)s, source_partition + 1)
  AND {filter_sql}
GROUP BY org_id, app_id, bucket, source_partition"""


def backfill(
    clickhouse: ClickHouse,
    org_id: str,
    app_id: str | None,
    segment_key: str,
    node: Node,
    markers: Sequence[int],
) -> None:
    """Write the backfill rows of one segment; ``markers[p]`` is its start marker's offset in
    partition ``p``."""
    filter_sql, params = to_sql(node)
    values: dict[str, Any] = {
        **params,
        "org": org_id,
        "app": app_id or "",
        "segment_key": segment_key,
        "markers": list(markers),
    }
    for unit in STORED_UNITS:
        sql = backfill_sql(clickhouse.database, unit, filter_sql, app_id is not None)
        clickhouse.execute(sql, values)
