"""Recomputing window counts from the raw ``sessions`` table (``sessionflow reconcile``).

For every stored unit, window and source partition in the range, the count of distinct sessions
is written as a ``session_counts`` row whose version outranks the worker's for the same data
(worker: 2*offset; reconcile: 2*max_offset + 1) but not a later worker update. Running it
twice writes the same rows again: idempotent. Windows the worker may still add to (ending less
than ``OPEN_WINDOW_MS`` ago) are left to the worker unless forced. Segments are reconciled the
same way, for the sessions after their start markers (``sessionflow.backfill``). Each day's
windows are settled (``sessionflow.totals``) once its rows are written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from sessionflow.backfill import (
    IN_RANGE,
    REBUILT_VERSION,
    counts_from_sessions_sql,
    reconcile_segment,
)
from sessionflow.clickhouse import ClickHouse
from sessionflow.segments import Segment
from sessionflow.timebuckets import PLAYER_TIME_PAST_MS, STORED_UNITS, Unit, bucket_start_ms
from sessionflow.totals import settle_range

# A window is closed once no sessionStart can land in it any more: the edge dates sessions at
# most 24 h back, plus an hour of slack for the pipeline.
OPEN_WINDOW_MS = PLAYER_TIME_PAST_MS + Unit.HOUR.ms
ALL_SESSIONS = ""


def chunks(from_ms: int, to_ms: int) -> Iterator[tuple[int, int]]:
    """Whole UTC days covering [from_ms, to_ms), so every window lies within one chunk."""
    start = bucket_start_ms(from_ms, Unit.DAY.ms)
    while start < to_ms:
        yield start, start + Unit.DAY.ms
        start += Unit.DAY.ms


def reconcile_sql(database: str, unit: Unit) -> str:
    return counts_from_sessions_sql(
        database, unit, f"'{ALL_SESSIONS}'", "'stream'", REBUILT_VERSION, IN_RANGE
    )


def reconcile(
    clickhouse: ClickHouse,
    from_ms: int,
    to_ms: int,
    progress: Callable[[Iterable[tuple[int, int]], int], Iterable[tuple[int, int]]] = (
        lambda it, total: it
    ),
    segments: Sequence[Segment] = (),
) -> int:
    """Rewrite the counts of every window in [from_ms, to_ms) (whole UTC days) from the raw
    sessions, for all sessions and for each of ``segments``; return the number of days."""
    days = list(chunks(from_ms, to_ms))
    for lo, hi in progress(days, len(days)):
        for unit in STORED_UNITS:
            clickhouse.execute(
                reconcile_sql(clickhouse.database, unit), {"lo": lo // 1000, "hi": hi // 1000}
            )
        for segment in segments:
            reconcile_segment(clickhouse, segment, lo // 1000, hi // 1000)
        settle_range(clickhouse, lo // 1000, hi // 1000, segment_id=ALL_SESSIONS)
    return len(days)
