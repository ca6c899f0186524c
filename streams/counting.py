"""Pure counting logic of the worker: which windows a session counts in, and the idempotent
update of one window's state.

A window's state is ``{segment_id: [count, last_offset]}`` (``""``: all sessions), kept per
(org, app, unit, source partition) and window. Records of one source partition arrive in offset
order, so a record at or below a segment's ``last_offset`` was already applied: replays after a
crash or a rebalance change nothing. All of a window's segments live in one value, so counting
a session is one changelog record per window, however many segments it matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from sessionflow.timebuckets import STORED_UNITS, Unit, bucket_start_ms

ALL_SESSIONS = ""  # segment id of the unsegmented count

Entry = list[int]  # [count, last_offset]
State = dict[str, Entry]


@dataclass(frozen=True)
class Window:
    """One window a session counts in."""

    unit: Unit
    key: str  # the Faust table key (JSON text, unambiguous whatever the ids hold)
    org_id: str
    app_id: str
    partition: int  # of the source (media-events) records counted in it
    bucket_start_ms: int


def windows(org_id: str, app_id: str, at_ms: int, partition: int) -> list[Window]:
    """The quarter-hour, hour and day windows of a session at ``at_ms`` from ``partition``."""
    key = orjson.dumps([org_id, app_id, partition]).decode()
    return [
        Window(unit, key, org_id, app_id, partition, bucket_start_ms(at_ms, unit.ms))
        for unit in STORED_UNITS
    ]


def apply(state: State | None, segments: Iterable[str], offset: int) -> tuple[State, list[str]]:
    """Count the record at ``offset`` into all sessions and each of ``segments`` unless it is
    in already; return the new state and the segment ids whose count changed."""
    new = dict(state) if state else {}
    changed = []
    for segment_id in (ALL_SESSIONS, *segments):
        count, last = new.get(segment_id, (0, -1))
        if offset > last:
            new[segment_id] = [count + 1, offset]
            changed.append(segment_id)
    return new, changed


def is_late(at_ms: int, now_ms: int, horizon_ms: int) -> bool:
    """A session older than the worker's window horizon: its window may be gone, so the worker
    leaves it to ``sessionflow reconcile`` (dead-lettered with reason ``late``)."""
    return at_ms < now_ms - horizon_ms


def count_record(windows: list[tuple[Window, str, Entry]]) -> dict[str, Any]:
    """The ``SessionCount`` record announcing the absolute counts of ``windows`` (each a window,
    a segment id and its entry), all under one window key (org, app, source partition)."""
    first, *rest = (
        {
            "segment_id": segment_id,
            "unit": window.unit.value,
            "bucket_start_ms": window.bucket_start_ms,
            "count": entry[0],
            # Even versions for the worker, odd ones for `sessionflow reconcile`.
            "version": 2 * entry[1],
        }
        for window, segment_id, entry in windows
    )
    window = windows[0][0]
    return {
        "org_id": window.org_id,
        "app_id": window.app_id,
        "source_partition": window.partition,
        **first,
        "more": rest,
    }
