"""Which windows a settle reads: always whole ones, every window asked for among them."""

from __future__ import annotations

from sessionflow.totals import settle_sql, shifted_hours_sql, shifted_params, windows_sql


def test_no_windows_no_statement():
    assert windows_sql([]) is None


def test_the_condition_names_every_window_by_the_sorting_key():
    where, params = windows_sql(
        [("o1", "", "quarter", 86400 + 900), ("o2", "s@1", "hour", 7200), ("o1", "", "day", 0)]
    )
    assert params["orgs"] == ("o1", "o2") and params["segments"] == ("", "s@1")
    assert params["quarter_starts"] == (87300,) and params["quarter_phases"] == (900,)
    assert params["hour_starts"] == (7200,) and params["day_starts"] == (0,)
    assert (params["first_s"], params["last_s"]) == (0, 87300)
    # Only window columns: a settle never reads some of a window's partitions or origins.
    assert "source_partition" not in where and "origin" not in where
    assert "unit = 'quarter' AND if(unit = 'quarter', toUInt32(bucket_start) %% 86400" in where


def test_a_total_adds_up_each_partitions_newest_row():
    per_app, all_apps = settle_sql("db", "1")
    assert "INSERT INTO db.session_totals\n" in per_app
    assert "INSERT INTO db.session_totals_all_apps\n" in all_apps
    assert "FROM db.session_counts" in per_app
    assert (
        "GROUP BY org_id, app_id, segment_id, unit, bucket_start, source_partition, origin"
        in per_app
    )
    assert "argMax(count, version)" in per_app and "max(version) + 1" in per_app
    assert per_app.rstrip().endswith("GROUP BY org_id, app_id, segment_id, unit, bucket_start")
    # Over the apps: their newest totals, just settled, added up (versions too).
    assert "FROM db.session_totals FINAL" in all_apps and "sum(version)" in all_apps
    assert all_apps.rstrip().endswith("GROUP BY org_id, segment_id, unit, bucket_start")


def test_days_are_settled_after_their_hours_and_quarters(monkeypatch):
    """Split over several statements, larger units come last: a day's total is never older
    than the hours a series takes away from it."""
    from sessionflow import totals

    monkeypatch.setattr(totals, "WINDOWS_PER_SETTLE", 2)
    statements: list[dict] = []

    class Recorder:
        database = "db"

        def execute(self, sql, params):
            statements.append(params)
            return []

    totals.settle_windows(
        Recorder(), [("o", "", "day", 0), ("o", "", "hour", 3600), ("o", "", "quarter", 900)]
    )
    units = [[u for u in ("quarter", "hour", "day") if f"{u}_starts" in p] for p in statements]
    # Each chunk into both tables (per app, then over the apps, then the shifted hours of its
    # quarters) before the next chunk.
    assert units == [["quarter", "hour"]] * 3 + [["day"], ["day"]]
    assert (statements[2]["shifted_lo"], statements[2]["shifted_hi"]) == (900, 1800)
    assert all("shifted_lo" not in p for p in statements[3:])


def test_a_shifted_hour_is_written_whole_from_its_quarters():
    sql = shifted_hours_sql("db", "org_id IN %(orgs)s")
    # Its quarters read 45 minutes either side of the settled ones; hours not on the hour only.
    assert "FROM db.session_totals_all_apps FINAL" in sql and "unit = 'quarter'" in sql
    assert "toDateTime(%(read_lo)s)" in sql and "toDateTime(%(read_hi)s)" in sql
    assert shifted_params(900, 1800) == {
        "shifted_lo": 900, "shifted_hi": 1800, "read_lo": 0, "read_hi": 4500,
        "read_phases": (0, 900, 1800, 2700, 3600),
    }  # fmt: skip
    late = shifted_params(86400 - 900, 86400)  # the day's last quarter: the next day's too
    assert late["read_phases"] == (0, 900, 1800, 82800, 83700, 84600, 85500)
    whole = shifted_params(3600, 2**32 - 1)  # a backfill: all of time
    assert whole["read_hi"] == 2**32 - 1 and len(whole["read_phases"]) == 96
    assert "hour_s %% 3600 != 0" in sql and "sum(version)" in sql
    assert sql.rstrip().endswith("GROUP BY org_id, segment_id, hour_s")
