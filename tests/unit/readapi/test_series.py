"""The aggregate query reads only the pre-aggregated table, never raw sessions; a bucket's count
is its stored windows added and taken away."""

from datetime import UTC, datetime, timedelta, timezone

from readapi.series import combine, series_sql
from sessionflow.timebuckets import Unit, series_buckets, series_tiling


def test_series_queries_only_the_aggregate_table():
    for with_apps in (True, False):
        for units in ([Unit.DAY], [Unit.DAY, Unit.HOUR, Unit.QUARTER]):
            sql = series_sql("db", with_apps, units)
            assert "db.session_totals" in sql
            assert "db.sessions" not in sql and "db.events" not in sql


def test_a_minus_five_day_is_its_utc_day_less_five_hours_plus_the_next_days():
    end = datetime(2026, 3, 3, 12, tzinfo=timezone(timedelta(hours=-5)))
    tiling = series_tiling(series_buckets(end, Unit.DAY, 2))
    day = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    rows = [
        ("day", day, 100), ("day", day + 86400, 50),
        *(("hour", day + h * 3600, 10) for h in range(5)),  # 50 before 05:00 on the 2nd
        *(("hour", day + 86400 + h * 3600, 2) for h in range(5)),  # 10 before 05:00 on the 3rd
        ("hour", day + 86400 + 7 * 3600, 99),  # a stored hour no bucket uses
    ]  # fmt: skip
    assert combine(tiling, rows) == [100 - 50 + 10, 50 - 10]


def test_a_bucket_never_reads_below_zero():
    # Only while `sessionflow reconcile` rewrites a day unit by unit could an hour be ahead.
    end = datetime(2026, 3, 2, 12, tzinfo=timezone(timedelta(hours=-5)))
    day = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    rows = [("day", day, 1), ("hour", day, 3)]
    assert combine(series_tiling(series_buckets(end, Unit.DAY, 1)), rows) == [0]
