from datetime import UTC, datetime, timedelta, timezone

import pytest

from sessionflow.timebuckets import (
    Unit,
    bucket_start_ms,
    series_buckets,
    series_tiling,
    session_time_ms,
    to_ms,
)

H = 3_600_000


def test_bucket_start_utc_and_offsets():
    ts = to_ms(datetime(2024, 3, 10, 13, 47, tzinfo=UTC))
    assert bucket_start_ms(ts, H) == to_ms(datetime(2024, 3, 10, 13, tzinfo=UTC))
    ist = timezone(timedelta(hours=5, minutes=30))
    # 13:47 UTC is 19:17 in India; its hour starts at 19:00 IST = 13:30 UTC
    assert bucket_start_ms(ts, H, 330 * 60_000) == to_ms(datetime(2024, 3, 10, 13, 30, tzinfo=UTC))
    assert bucket_start_ms(ts, Unit.DAY.ms, 330 * 60_000) == to_ms(
        datetime(2024, 3, 10, tzinfo=ist)
    )


def test_session_time_rule():
    now = 1_731_672_000_000
    assert session_time_ms(now - 3600_000, now) == (now - 3600_000, "player")
    assert session_time_ms(now - 24 * H, now) == (now - 24 * H, "player")
    assert session_time_ms(now - 24 * H - 1, now) == (now, "edge")
    assert session_time_ms(now + 5 * 60_000, now) == (now + 5 * 60_000, "player")
    assert session_time_ms(now + 5 * 60_000 + 1, now) == (now, "edge")


def test_hour_series_labels_oldest_first_in_offset():
    end = datetime(2024, 1, 1, 2, 30, tzinfo=timezone(timedelta(hours=-5)))
    buckets = series_buckets(end, Unit.HOUR, 4)
    assert [b.label for b in buckets] == [
        "2023-12-31T23:00:00-05:00",
        "2024-01-01T00:00:00-05:00",
        "2024-01-01T01:00:00-05:00",
        "2024-01-01T02:00:00-05:00",
    ]
    assert buckets[-1].start_ms <= to_ms(end) < buckets[-1].end_ms
    assert all(b.end_ms - b.start_ms == H for b in buckets)


def test_utc_hour_labels_use_plus_zero():
    end = datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert series_buckets(end, Unit.HOUR, 1)[0].label == "2024-01-01T00:00:00+00:00"


@pytest.mark.parametrize("minutes", [0, -300, 330, 345, -570, 840, -720, 60])
@pytest.mark.parametrize("unit", [Unit.DAY, Unit.HOUR, Unit.MINUTE])
def test_labels_are_each_bucket_start_in_the_offset(minutes, unit):
    # Labels come from calendar arithmetic on the first bucket; each must read as its own start
    # converted to the offset (across a leap day and a year's end).
    zone = timezone(timedelta(minutes=minutes))
    end = datetime(2025, 1, 2, 3, 4, tzinfo=zone)
    for bucket in series_buckets(end, unit, 400):
        local = datetime.fromtimestamp(bucket.start_ms / 1000, tz=zone)
        want = local.date().isoformat() if unit is Unit.DAY else local.isoformat()
        assert bucket.label == want
        assert bucket.end_ms - bucket.start_ms == unit.ms


def test_day_series_in_nepal_time():
    npt = timezone(timedelta(hours=5, minutes=45))
    end = datetime(2024, 2, 29, 0, 10, tzinfo=npt)
    buckets = series_buckets(end, Unit.DAY, 3)
    assert [b.label for b in buckets] == ["2024-02-27", "2024-02-28", "2024-02-29"]
    assert buckets[0].start_ms == to_ms(datetime(2024, 2, 27, tzinfo=npt))


Q = Unit.QUARTER.ms


def _stored_buckets(tiling) -> set:
    return {(t.unit, t.start_ms) for k in range(tiling.length) for t in tiling.terms(k)}


@pytest.mark.parametrize("unit", [Unit.DAY, Unit.HOUR])
def test_series_tiling_is_exact_in_every_offset(unit):
    """In every offset (-12:00 to +14:00 by quarter-hours), every quarter-hour counts once in
    the bucket holding it and nowhere else, whatever was added and taken away; every term is a
    stored bucket (aligned to its unit in UTC)."""
    for minutes in range(-12 * 60, 14 * 60 + 1, 15):
        end = datetime(2026, 3, 1, 7, 40, tzinfo=timezone(timedelta(minutes=minutes)))
        buckets = series_buckets(end, unit, 3)
        tiling = series_tiling(buckets)
        lo, hi = buckets[0].start_ms - 2 * Unit.DAY.ms, buckets[-1].end_ms + 2 * Unit.DAY.ms
        for k, bucket in enumerate(buckets):
            terms = tiling.terms(k)
            assert all(t.start_ms % t.unit.ms == 0 and t.sign in (1, -1) for t in terms)
            for q in range(lo, hi, Q):
                weight = sum(t.sign for t in terms if t.start_ms <= q < t.start_ms + t.unit.ms)
                assert weight == (bucket.start_ms <= q < bucket.end_ms), (minutes, bucket, q)


@pytest.mark.parametrize(
    ("unit", "minutes", "per_bucket"),
    [
        (Unit.DAY, 0, 1),  # the UTC days themselves
        (Unit.HOUR, 0, 1),
        (Unit.DAY, 60, 2),  # each UTC day and its first hour
        (Unit.DAY, -300, 6),  # each UTC day and its first five hours (24 hours laid end to end)
        (Unit.DAY, 330, 8),  # each UTC day and its last five hours and two quarters (27)
        (Unit.HOUR, 345, 2),  # each UTC hour and its first quarter (4 quarters)
        (Unit.HOUR, -210, 3),  # each UTC hour and its first two quarters (4 quarters)
    ],
)
def test_series_tiling_reads_few_stored_buckets(unit, minutes, per_bucket):
    end = datetime(2026, 3, 1, 7, 40, tzinfo=timezone(timedelta(minutes=minutes)))
    tiling = series_tiling(series_buckets(end, unit, 100))
    assert len(_stored_buckets(tiling)) == tiling.reads <= 100 * per_bucket + per_bucket


@pytest.mark.parametrize("minutes", [0, 330, 345, -210])
def test_with_shifted_hours_an_hour_series_reads_one_stored_hour_per_bucket(minutes):
    """Over every app, hours starting at :15, :30 and :45 are stored too (sessionflow.totals):
    each bucket is one of them, whatever the offset; days are tiled as without them."""
    end = datetime(2026, 3, 1, 7, 40, tzinfo=timezone(timedelta(minutes=minutes)))
    buckets = series_buckets(end, Unit.HOUR, 100)
    tiling = series_tiling(buckets, shifted_hours=True)
    assert [(t.unit, t.start_ms, t.sign) for t in tiling.pattern] == [
        (Unit.HOUR, buckets[0].start_ms, 1)
    ]
    assert [t.start_ms for k in range(100) for t in tiling.terms(k)] == [
        b.start_ms for b in buckets
    ]
    days = series_buckets(end, Unit.DAY, 10)
    assert series_tiling(days, shifted_hours=True) == series_tiling(days)


def test_minute_buckets_in_a_half_hour_offset():
    ending = datetime(2026, 11, 23, 10, 2, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    buckets = series_buckets(ending, Unit.MINUTE, 3)
    assert [b.label for b in buckets] == [
        "2026-11-23T10:00:00+05:30", "2026-11-23T10:01:00+05:30", "2026-11-23T10:02:00+05:30",
    ]  # fmt: skip
    assert all(b.end_ms - b.start_ms == 60_000 for b in buckets)
