"""The aggregate query reads only the pre-aggregated table, never raw sessions."""

from readapi.series import series_sql
from sessionflow.timebuckets import Unit


def test_series_queries_only_the_aggregate_table():
    for with_apps in (True, False):
        for units in ([Unit.DAY], [Unit.DAY, Unit.HOUR, Unit.QUARTER]):
            sql = series_sql("db", with_apps, units)
            assert "db.session_counts" in sql
            assert "db.sessions" not in sql and "db.events" not in sql
