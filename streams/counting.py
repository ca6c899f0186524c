"""Pure counting logic of the worker: which windows a session counts in, and the idempotent
update of one window's state.

A window's state is ``[count, last_offset]``, kept per (org, app, segment, unit, source
partition) and window. Records of one source partition arrive in offset order, so a record at
or below ``last_offset`` was already applied: replays after a crash or a rebalance change
nothing, and each update is one changelog record (count and offset move together).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from sessionflow.timebuckets import STORED_UNITS, Unit, bucket_start_ms

ALL_SESSIONS = ""  # segment id of the unsegmented count

State = list[int]


@dataclass(frozen=True)
class Target:
    """One window a session counts in."""

    unit: Unit
    key: str  # the Faust table key (JSON text, unambiguous whatever the ids hold)
    org_id: str
    app_id: str
    segment_id: str
    bucket_start_ms: int


def targets(
    org_id: str, app_id: str, segments: list[str], at_ms: int, partition: int
) -> list[Target]:
    """Every (unit, segment) window a session at ``at_ms`` from ``partition`` counts in."""
    found = []
    for segment_id in [ALL_SESSIONS, *segments]:
        key = orjson.dumps([org_id, app_id, segment_id, partition]).decode()
        for unit in STORED_UNITS:
            start = bucket_start_ms(at_ms, unit.ms)
            found.append(Target(unit, key, org_id, app_id, segment_id, start))
    return found


def apply(state: State | None, offset: int) -> tuple[State, bool]:
    """Count the record at ``offset`` into ``state`` unless it is already in; say if it was new."""
    count, last = (state[0], state[1]) if state else (0, -1)
    if offset <= last:
        return [count, last], False
    return [count + 1, offset], True


def is_late(at_ms: int, now_ms: int, horizon_ms: int) -> bool:
    """A session older than the worker's window horizon: its window may be gone, so the worker
    leaves it to ``sessionflow reconcile`` (dead-lettered with reason ``late``)."""
    return at_ms < now_ms - horizon_ms


def count_record(target: Target, partition: int, state: State) -> dict[str, Any]:
    """The ``SessionCount`` record announcing a window's absolute state."""
    return {
        "org_id": target.org_id,
        "app_id": target.app_id,
        "segment_id": target.segment_id,
        "unit": target.unit.value,
        "bucket_start_ms": target.bucket_start_ms,
        "source_partition": partition,
        "count": state[0],
        # Even versions for the worker, odd ones for `sessionflow reconcile`.
        "version": 2 * state[1],
    }
