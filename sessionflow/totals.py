"""``session_totals``: each stored window's count, summed over its source partitions and origins.

``session_counts`` keeps one row per (window, app, source partition, origin): the worker of each
partition announces its own absolute counts, a segment's backfill its own, and a reader has to
take each one's newest version and add them up, so a series read rows in proportion to the
topic's partition count. Whoever writes ``session_counts`` (the sink, ``sessionflow
reconcile``, a segment's backfill) then **settles** the windows it wrote: one ``INSERT …
SELECT`` adds up their current rows into ``session_totals``, one row per (org, app, segment,
unit, window); a second one adds up those apps' newest totals into ``session_totals_all_apps``,
one row per (org, segment, unit, window); when quarters were settled, a third one adds up, in
``session_totals_all_apps`` too, the **shifted hours** holding them: hours starting at :15, :30
and :45 (unit ``hour``, a start that is not a whole hour), each the sum of its four quarters. The
read API reads them, the second and third when a series names no apps: an hour series in a
+05:30 or +05:45 offset then reads one hour row per bucket, in time order, instead of an hour
and quarters at 24 to 48 places of the table's sort order.

A total's version is the sum, over the rows it adds up, of their newest version + 1. A window's
rows only ever gain newer versions and new partitions, so a settle that saw more of them has a
higher version, and ``ReplacingMergeTree(version)`` keeps it whatever order two settles (two
sinks, a sink and ``reconcile``) finish in; two settles that saw the same rows write the same
row. A settle always reads whole windows (never some of a window's partitions), or a total
could outrank the whole with a part. The same holds over the apps: an app's newest total only
ever gains a higher version, so the sum of them that saw more has the higher version too (the
sum of the versions), whichever sink's per-app totals it read; and a shifted hour's quarters'
totals likewise, so of two settles of a shifted hour the one that saw newer quarters wins. A
shifted hour is only ever written whole: its four quarters are all in the range it is read
from. A writer settles before it reports its rows stored (the sink before it commits their
offsets), so a crash in between settles them again when the records come back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sessionflow.clickhouse import ClickHouse
from sessionflow.tables import QUARTER_PHASE, UNIT_TYPE
from sessionflow.timebuckets import Unit

DAY_S = Unit.DAY.ms // 1000
HOUR_S = Unit.HOUR.ms // 1000
QUARTER_S = Unit.QUARTER.ms // 1000
LAST_DATETIME_S = 2**32 - 1  # ClickHouse's DateTime is a UInt32
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


def shifted_hours_sql(database: str, where: str) -> str:
    """The ``INSERT … SELECT`` that settles, in ``session_totals_all_apps``, every hour starting
    at :15, :30 or :45 that holds a quarter starting in [``%(shifted_lo)s``, ``%(shifted_hi)s``)
    (epoch seconds, multiples of 15 minutes): the sum of its four quarters' newest all-apps
    totals, version the sum of theirs. ``where`` is a condition on org and segment only. It
    reads every quarter of each such hour (``%(read_lo)s`` and ``%(read_hi)s``: 45 minutes
    either side of the range, ``shifted_params``), so no hour is written from some of its
    quarters."""
    return f"""
INSERT INTO {database}.session_totals_all_apps
    (org_id, segment_id, unit, bucket_start, sessions, version)
SELECT org_id, segment_id, CAST('hour' AS {UNIT_TYPE}), toDateTime(hour_s),
       sum(sessions), sum(version)
FROM (
    SELECT org_id, segment_id, toUInt32(bucket_start) AS quarter_s, sessions, version
    FROM {database}.session_totals_all_apps FINAL
    WHERE unit = 'quarter' AND {QUARTER_PHASE.replace("%", "%%")} IN %(read_phases)s
      AND ({where})
      AND bucket_start >= toDateTime(%(read_lo)s) AND bucket_start < toDateTime(%(read_hi)s)
)
ARRAY JOIN [quarter_s - {3 * QUARTER_S}, quarter_s - {2 * QUARTER_S}, quarter_s - {QUARTER_S},
            quarter_s] AS hour_s
WHERE hour_s %% {HOUR_S} != 0
  AND hour_s >= %(read_lo)s AND hour_s < %(shifted_hi)s
GROUP BY org_id, segment_id, hour_s"""


def shifted_params(lo_s: int, hi_s: int) -> dict[str, Any]:
    """The parameters of ``shifted_hours_sql`` for the quarters starting in [lo_s, hi_s)."""
    around = HOUR_S - QUARTER_S
    read_lo, read_hi = max(0, lo_s - around), min(hi_s + around, LAST_DATETIME_S)
    # The quarters' times of day, as the sorting key has them: a sink's settle of the last
    # minutes reads 7 of the 96 runs (9 ms against 11 on 18.16).
    if read_hi - read_lo >= DAY_S:
        phases = tuple(range(0, DAY_S, QUARTER_S))
    else:
        phases = tuple(sorted({t % DAY_S for t in range(read_lo, read_hi, QUARTER_S)}))
    return {
        "shifted_lo": lo_s,
        "shifted_hi": hi_s,
        # Within DateTime's range: a backfill names the whole of time.
        "read_lo": read_lo,
        "read_hi": read_hi,
        "read_phases": phases,
    }


def _settle(
    clickhouse: ClickHouse,
    where: str,
    params: dict[str, Any],
    quarters: tuple[int, int] | None,
    orgs_segments: str,
) -> None:
    """Settle per app, then over the apps, then (``quarters``: the [lo, hi) seconds of the
    quarters among the windows) the shifted hours holding those quarters."""
    for sql in settle_sql(clickhouse.database, where):
        clickhouse.execute(sql, params)
    if quarters is not None:
        lo_s, hi_s = quarters
        clickhouse.execute(
            shifted_hours_sql(clickhouse.database, orgs_segments),
            {**params, **shifted_params(lo_s, hi_s)},
        )


def settle_range(
    clickhouse: ClickHouse,
    lo_s: int,
    hi_s: int,
    org_id: str | None = None,
    segment_id: str | None = None,
) -> None:
    """Settle every window starting in [lo_s, hi_s) (epoch seconds), of one org and one segment
    key if given."""
    params: dict[str, Any] = {"lo": lo_s, "hi": hi_s}
    who = []  # the org and segment: all the shifted hours' statement may name besides time
    if org_id is not None:
        who.append("org_id = %(org)s")
        params["org"] = org_id
    if segment_id is not None:
        who.append("segment_id = %(segment)s")
        params["segment"] = segment_id
    where = " AND ".join(
        ["bucket_start >= toDateTime(%(lo)s) AND bucket_start < toDateTime(%(hi)s)", *who]
    )
    quarters = (lo_s - lo_s % QUARTER_S, hi_s + -hi_s % QUARTER_S)
    _settle(clickhouse, where, params, quarters, " AND ".join(who) or "1")


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
        chunk = ordered[at : at + WINDOWS_PER_SETTLE]
        found = windows_sql(chunk)
        if found is not None:
            where, params = found
            starts = [start_s for _, _, unit, start_s in chunk if unit == Unit.QUARTER.value]
            quarters = (min(starts), max(starts) + QUARTER_S) if starts else None
            orgs_segments = "org_id IN %(orgs)s AND segment_id IN %(segments)s"
            _settle(clickhouse, where, params, quarters, orgs_segments)


def populate(clickhouse: ClickHouse) -> int:
    """Settle every stored window, a UTC day at a time, when a totals table is empty, or has
    quarters but no shifted hour, and ``session_counts`` is not (an install upgraded from
    before them); the number of days. A window settled again writes the total it has (the same
    version), which changes nothing."""
    db = clickhouse.database
    per_app = clickhouse.execute(f"SELECT count() FROM {db}.session_totals")[0][0]
    all_apps, quarters, shifted = clickhouse.execute(
        f"SELECT count(), countIf(unit = 'quarter'), "
        f"countIf(unit = 'hour' AND toUInt32(bucket_start) % {HOUR_S} != 0) "
        f"FROM {db}.session_totals_all_apps"
    )[0]
    if per_app and all_apps and (shifted or not quarters):
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
