"""Time buckets: session time, stored bucket starts and the buckets of a requested series.

All instants are integer epoch milliseconds (``*_ms``). Buckets are aligned to the epoch in a
fixed UTC offset, so every offset that is a multiple of 15 minutes is a union of quarter-hour
buckets: quarter-hour counts answer any real timezone exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache


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
    width = unit.ms
    first_start = bucket_start_ms(to_ms(ending_at), width, offset_ms) - (length - 1) * width
    # Labels by calendar arithmetic from the first bucket's local time (a fixed offset), not a
    # conversion per bucket (a third of a 100-day series' time in the API, before).
    zone = timezone(timedelta(milliseconds=offset_ms))
    first_local = datetime.fromtimestamp(first_start / 1000, tz=zone)
    if unit is Unit.DAY:
        ordinal = first_local.toordinal()
        labels = [date.fromordinal(ordinal + k).isoformat() for k in range(length)]
    else:
        step = timedelta(milliseconds=width)
        labels = [_hour_label(first_local + k * step) for k in range(length)]
    starts = range(first_start, first_start + length * width, width)
    return [
        SeriesBucket(label, start, start + width)
        for label, start in zip(labels, starts, strict=True)
    ]


def _hour_label(local: datetime) -> str:
    text = local.isoformat(timespec="seconds")
    return text[:-6] + "+00:00" if text.endswith("Z") else text


@dataclass(frozen=True)
class Term:
    """One stored bucket (a unit and its UTC-aligned start) added to or taken from a series
    bucket (``sign`` +1 or -1)."""

    unit: Unit
    start_ms: int
    sign: int


_TILES = tuple((unit, unit.ms) for unit in reversed(STORED_UNITS))  # widest first


def cover(start_ms: int, end_ms: int, sign: int = 1) -> list[Term]:
    """[start, end) as the fewest stored buckets laid end to end: at each point the widest
    stored unit that starts there and fits (both ends are multiples of 15 minutes)."""
    if start_ms % OFFSET_STEP_MS or end_ms % OFFSET_STEP_MS:
        raise ValueError("offset must be a multiple of 15 minutes")
    terms = []
    at = start_ms
    while at < end_ms:
        unit, width = next((u, w) for u, w in _TILES if at % w == 0 and at + w <= end_ms)
        terms.append(Term(unit, at, sign))
        at += width
    return terms


def _around(start_ms: int, end_ms: int, base_ms: int) -> list[Term]:
    """[start, end) as the stored bucket of its width at ``base_ms`` (within one width of
    ``start_ms``), less the part before it starts and plus the part after (or the other way
    round)."""
    width = end_ms - start_ms
    whole = Term(Unit.DAY if width == Unit.DAY.ms else Unit.HOUR, base_ms, 1)
    if base_ms == start_ms:
        return [whole]
    if base_ms < start_ms:  # [start, end) = base - [base, start) + [base + w, end)
        return [whole, *cover(base_ms, start_ms, -1), *cover(base_ms + width, end_ms)]
    # base_ms > start_ms: [start, end) = [start, base) + base - [end, base + w)
    return [*cover(start_ms, base_ms), whole, *cover(end_ms, base_ms + width, -1)]


@dataclass(frozen=True)
class SeriesTiling:
    """A series' buckets as stored buckets to add and take away: its buckets are evenly
    spaced, so bucket ``k``'s are the first bucket's (``pattern``) ``k`` widths later."""

    pattern: tuple[Term, ...]
    width_ms: int
    length: int

    def terms(self, k: int) -> list[Term]:
        shift = k * self.width_ms
        return [Term(t.unit, t.start_ms + shift, t.sign) for t in self.pattern]

    @property
    def reads(self) -> int:
        """How many stored buckets the whole series reads (neighbours share some)."""
        keys = {(t.unit, t.start_ms) for t in self.pattern}
        shifted = {(t.unit, t.start_ms + self.width_ms) for t in self.pattern}
        return len(keys) + (self.length - 1) * len(shifted - keys)


def series_tiling(buckets: Sequence[SeriesBucket], shifted_hours: bool = False) -> SeriesTiling:
    """The buckets of a series (evenly spaced hours or days in one offset) as stored buckets to
    add and take away, whose counts sum to each bucket's exactly; of the ways to tile the
    series, the one that reads the fewest stored buckets. ``shifted_hours``: hours starting at
    :15, :30 and :45 are stored too (``sessionflow.totals``, over all apps), so an hour series
    in such an offset reads one of them per bucket.

    Besides the stored buckets laid end to end over it, a bucket is its UTC-aligned neighbour
    of the same width less the part before it starts, plus the part after that neighbour ends
    (or the other way round), and neighbouring buckets share those parts: a series of -05:00
    days reads each UTC day and its first five hours (6 stored buckets a day instead of 24), of
    +05:30 days 8 instead of 27. The subtraction is exact because the worker announces a
    session's quarter, hour and day in one record, which the sink stores in one insert: no
    stored hour is ever ahead of its day.
    """
    first = buckets[0]
    width = first.end_ms - first.start_ms
    if shifted_hours and width == Unit.HOUR.ms:
        return SeriesTiling((Term(Unit.HOUR, first.start_ms, 1),), width, len(buckets))
    # Every stored unit divides a day, so the tiling of a series starting at its time of day
    # holds for every day, shifted whole days: worked out once per time of day, width and length.
    time_of_day = first.start_ms % Unit.DAY.ms
    shift = first.start_ms - time_of_day
    tiling = _tiling_at(time_of_day, width, len(buckets))
    pattern = tuple(Term(t.unit, t.start_ms + shift, t.sign) for t in tiling.pattern)
    return SeriesTiling(pattern, width, tiling.length)


@lru_cache(maxsize=1024)
def _tiling_at(start_ms: int, width: int, length: int) -> SeriesTiling:
    ways = [cover(start_ms, start_ms + width)]
    if width in (Unit.HOUR.ms, Unit.DAY.ms):
        below = start_ms // width * width
        ways += [_around(start_ms, start_ms + width, base) for base in (below, below + width)]
    return min((SeriesTiling(tuple(way), width, length) for way in ways), key=lambda t: t.reads)
