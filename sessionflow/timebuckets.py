"""Time buckets: session time, stored bucket starts and the buckets of a requested series.

All instants are integer epoch milliseconds (``*_ms``). Buckets are aligned to the epoch in a
fixed UTC offset, so every offset that is a multiple of 15 minutes is a union of quarter-hour
buckets: quarter-hour counts answer any real timezone exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Unit(StrEnum):
    """Bucket widths the worker stores (``quarter``) and the API serves (``hour``, ``day``;
    ``minute`` for concurrent viewers)."""

    MINUTE = "minute"
    QUARTER = "quarter"
    HOUR = "hour"
    DAY = "day"

    @property
    def ms(self) -> int:
        return _UNIT_MS[self]


_UNIT_MS = {
    Unit.MINUTE: 60_000,
    Unit.QUARTER: 15 * 60_000,
    Unit.HOUR: 3_600_000,
    Unit.DAY: 86_400_000,
}
STORED_UNITS = (Unit.QUARTER, Unit.HOUR, Unit.DAY)
OFFSET_STEP_MS = Unit.QUARTER.ms
# Session time rule (SPEC §2): a player clock within this window around the edge's clock is used.
PLAYER_TIME_PAST_MS = 24 * 3_600_000
PLAYER_TIME_FUTURE_MS = 5 * 60_000


def bucket_start_ms(ts_ms: int, unit_ms: int, offset_ms: int = 0) -> int:
    """Start of the bucket of width ``unit_ms`` holding ``ts_ms``, in a zone ``offset_ms`` east."""
    return (ts_ms + offset_ms) // unit_ms * unit_ms - offset_ms


def session_time_ms(player_ts_ms: int, received_ms: int) -> tuple[int, str]:
    """The time a session counts at, and where it came from (``"player"`` or ``"edge"``)."""
    if received_ms - PLAYER_TIME_PAST_MS <= player_ts_ms <= received_ms + PLAYER_TIME_FUTURE_MS:
        return player_ts_ms, "player"
    return received_ms, "edge"


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class SeriesBucket:
    """One item of a data series: its label and its [start, end) in epoch ms."""

    label: str
    start_ms: int
    end_ms: int


def offset_ms_of(moment: datetime) -> int:
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("naive datetime")
    return offset // timedelta(milliseconds=1)


def series_buckets(ending_at: datetime, unit: Unit, length: int) -> list[SeriesBucket]:
    """The ``length`` buckets ending with the one holding ``ending_at``, oldest first.

    Buckets are whole hours or calendar days in the UTC offset of ``ending_at``; labels are
    ``YYYY-MM-DD`` for days and ``YYYY-MM-DDTHH:MM:SS±HH:MM`` for hours and minutes, in that
    offset.
    """
    if unit is Unit.QUARTER:
        raise ValueError("series are served by minute, hour or day")
    offset_ms = offset_ms_of(ending_at)
    zone = ending_at.tzinfo
    last_start = bucket_start_ms(to_ms(ending_at), unit.ms, offset_ms)
    buckets = []
    for back in range(length - 1, -1, -1):
        start = last_start - back * unit.ms
        local = datetime.fromtimestamp(start / 1000, tz=zone)
        label = local.date().isoformat() if unit is Unit.DAY else _hour_label(local)
        buckets.append(SeriesBucket(label, start, start + unit.ms))
    return buckets


def _hour_label(local: datetime) -> str:
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "+00:00" if text.endswith("Z") else text


def storage_unit(unit: Unit, offset_ms: int) -> Unit:
    """The coarsest stored unit whose buckets tile ``unit`` buckets in this offset exactly."""
    if offset_ms % OFFSET_STEP_MS:
        raise ValueError("offset must be a multiple of 15 minutes")
    if unit is Unit.DAY and offset_ms % Unit.DAY.ms == 0:
        return Unit.DAY
    if offset_ms % Unit.HOUR.ms == 0:
        return Unit.HOUR
    return Unit.QUARTER
