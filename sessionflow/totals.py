"""``session_totals``: each stored window's count, summed over its source partitions and origins.

``session_counts`` keeps one row per (window, app, source partition, origin): the worker of each
partition announces its own absolute counts, a segment's backfill its own, and a reader has to
take each one's newest version and add them up, so a series read rows in proportion to the
topic's partition count. Whoever writes ``session_counts`` (the sink, ``sessionflow
reconcile``, a segment's backfill) then **settles** the windows it wrote: one ``INSERT …
SELECT`` adds up their current rows into ``session_totals``, one row per (org, app, segment,
unit, window); a second one adds up those apps' newest totals into ``session_totals_all_apps``,
one row per (org, segment, unit, window). The read API reads them, the second when a series
names no apps.

A total's version is the sum, over the rows it adds up, of their newest version + 1. A window's
rows only ever gain newer versions and new partitions, so a settle that saw more of them has a
higher version, and ``ReplacingMergeTree(version)`` keeps it whatever order two settles (two
sinks, a sink and ``reconcile``) finish in; two settles that saw the same rows write the same
row. A settle always reads whole windows (never some of a window's partitions), or a total
could outrank the whole with a part. The same holds over the apps: an app's newest total only
ever gains a higher version, so the sum of them that saw more has the higher version too (the
sum of the versions), whichever sink's per-app totals it read. A writer settles before it
reports its rows stored (the sink before it commits their offsets), so a crash in between
settles them again when the records come back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.tables import QUARTER_PHASE
from sessionflow.timebuckets import Unit

DAY_S = Unit.DAY.ms // 1000
UNIT_ORDER = {Unit.QUARTER.value: 0, Unit.HOUR.value: 1, Unit.DAY.value: 2}


def settle_sql(database: str, where: str) -> tuple[str, str]:
    """The two ``INSERT … SELECT``s that settle the windows ``where`` selects, in this order:
    per app into ``session_totals``, from ``session_counts``; then over the apps into
    ``session_totals_all_apps``, from the apps' newest totals just settled. ``where`` is a
    condition on org, segment, unit and bucket start only: never on an app or a partition, or
    a total would add up part of its window."""
    per_app = f"""
INSERT INTO {database}.session_totals
    (org_id, app_id, segment_id, unit, bucket_start, sessions, version)
SELECT org_id, app_id, segment_id, unit, bucket_start, sum(c), sum(v)
FROM (
    SELECT org_id, app_id, segment_id, unit, bucket_start,
           argMax(count, version) AS c, max(version) + 1 AS v
    FROM {database}.session_counts
    WHERE {where}
    GROUP BY org_id, app_id, segment_id, unit, bucket_start, source_partition, origin
)
GROUP BY org_id, app_id, segment_id, unit, bucket_start"""
    all_apps = f"""
INSERT INTO {database}.session_totals_all_apps
    (org_id, segment_id, unit, bucket_start, sessions, version)
SELECT org_id, segment_id, unit, bucket_start, sum(sessions), sum(version)
FROM {database}.session_totals FINAL
WHERE {where}
GROUP BY org_id, segment_id, unit, bucket_start"""
    return per_app, all_apps


def _settle(clickhouse: ClickHouse, where: str, params: dict[str, Any]) -> None:
    for sql in settle_sql(clickhouse.database, where):
        clickhouse.execute(sql, params)


def settle_range(
    clickhouse: ClickHouse,
    lo_s: int,
    hi_s: int,
    org_id: str | None = None,
    segment_id: str | None = None,
) -> None:
    """Settle every window starting in [lo_s, hi_s) (epoch seconds), of one org and one segment
    key if given."""
    where = "bucket_start >= toDateTime(%(lo)s) AND bucket_start < toDateTime(%(hi)s)"
    params: dict[str, Any] = {"lo": lo_s, "hi": hi_s}
    if org_id is not None:
        where += " AND org_id = %(org)s"
        params["org"] = org_id
    if segment_id is not None:
        where += " AND segment_id = %(segment)s"
        params["segment"] = segment_id
    _settle(clickhouse, where, params)


def windows_sql(windows: Iterable[tuple[str, str, str, int]]) -> tuple[str, dict[str, Any]] | None:
    """The condition selecting (at least) ``windows`` — (org, segment, unit, start seconds) —
    by the columns of the tables' sorting key, and its parameters; ``None`` if there are none.

    It selects every org, segment and start of a unit named together: a few more windows than
    asked when a batch spans several orgs, each of them whole."""
    by_unit: dict[str, set[int]] = defaultdict(set)
    orgs: set[str] = set()
    segments: set[str] = set()
    for org_id, segment_id, unit, start_s in windows:
        by_unit[unit].add(start_s)
        orgs.add(org_id)
        segments.add(segment_id)
    if not by_unit:
        return None
    params: dict[str, Any] = {"orgs": tuple(sorted(orgs)), "segments": tuple(sorted(segments))}
    listed = []
    for unit, starts in sorted(by_unit.items()):
        params[f"{unit}_starts"] = tuple(sorted(starts))
        phase = ""
        if unit == Unit.QUARTER.value:  # its time of day is in the key: name it to use the index
            params["quarter_phases"] = tuple(sorted({s % DAY_S for s in starts}))
            phase = f" AND {QUARTER_PHASE.replace('%', '%%')} IN %(quarter_phases)s"
        listed.append(
            f"(unit = '{Unit(unit).value}'{phase} AND toUInt32(bucket_start) IN %({unit}_starts)s)"
        )
    where = (
        "org_id IN %(orgs)s AND segment_id IN %(segments)s AND ("
        + " OR ".join(listed)
        + ")"
        # The range too: ClickHouse 18.16 does not narrow the index by an IN on a function.
        + " AND bucket_start >= toDateTime(%(first_s)s) AND bucket_start <= toDateTime(%(last_s)s)"
    )
    every = [s for starts in by_unit.values() for s in starts]
    params["first_s"], params["last_s"] = min(every), max(every)
    return where, params


# Windows settled by one statement at most: its lists of starts stay far below ClickHouse's
# 256 KiB max_query_size whatever the batch (a sink catching up on days of counts).
WINDOWS_PER_SETTLE = 2_000


def settle_windows(clickhouse: ClickHouse, windows: Iterable[tuple[str, str, str, int]]) -> None:
    """Settle ``windows`` — (org, segment, unit, start seconds) — as the sink does after
    storing count rows."""
    # Smaller units first: when the windows take several statements (a sink catching up), a
    # day is settled after its hours and quarters, from rows at least as new, so a series that
    # takes hours away from their day never sees an hour ahead of it.
    ordered = sorted(set(windows), key=lambda w: (UNIT_ORDER[w[2]], w[3], w[0], w[1]))
    for at in range(0, len(ordered), WINDOWS_PER_SETTLE):
        found = windows_sql(ordered[at : at + WINDOWS_PER_SETTLE])
        if found is not None:
            where, params = found
            _settle(clickhouse, where, params)


def populate(clickhouse: ClickHouse) -> int:
    """Settle every stored window, a UTC day at a time, when a totals table is empty and
    ``session_counts`` is not (an install upgraded from before it); the number of days. A
    window settled again writes the total it has (the same version), which changes nothing."""
    db = clickhouse.database
    if all(
        clickhouse.execute(f"SELECT count() FROM {db}.{table}")[0][0]
        for table in ("session_totals", "session_totals_all_apps")
    ):
        return 0
    found = clickhouse.execute(
        f"SELECT count(), toUInt32(min(bucket_start)), toUInt32(max(bucket_start)) "
        f"FROM {db}.session_counts"
    )
    rows, first_s, last_s = found[0]
    if not rows:
        return 0
    days = 0
    for day in range(first_s - first_s % DAY_S, last_s + 1, DAY_S):
        settle_range(clickhouse, day, day + DAY_S)
        days += 1
    return days
