"""The aggregate queries read only the pre-aggregated table, and the edge plan of days in a
non-UTC offset adds up to exactly the sessions of each local day."""

import random

import pytest

from analytics.series import day_edges, series_sql, signed_days_sql


def test_series_queries_only_the_aggregate_table():
    for with_apps in (True, False):
        for sql in (series_sql("db", with_apps), signed_days_sql("db", with_apps)):
            assert "db.session_counts" in sql
            assert "db.sessions" not in sql and "db.events" not in sql


def evaluate(plan: dict[str, int], first_s: int, sessions: list[int], days: int) -> list[int]:
    """What the signed-days SQL computes, row by row, for sessions at the given seconds."""
    rows: dict[tuple[str, int], int] = {}
    for t in sessions:
        for unit, width in (("quarter", 900), ("hour", 3600), ("day", 86400)):
            key = (unit, t - t % width)
            rows[key] = rows.get(key, 0) + 1
    out = [0] * days
    for (unit, start), count in rows.items():
        sod = start % 86400
        if unit == "day":
            if not plan["days_from"] <= start < plan["days_to"]:
                continue
        elif not plan["edges_from"] <= start < plan["edges_to"] or (unit == "hour" and not plan["hour_lo"] <= sod < plan["hour_hi"]) or (unit == "quarter" and not plan["quarter_lo"] <= sod < plan["quarter_hi"]):
            continue
        t_idx = (start - first_s) // 86400
        contributions = (
            [(t_idx + plan["day_shift"], count)]
            if unit == "day"
            else [(t_idx, count), (t_idx + plan["edge_shift"], -count)]
        )
        for i, value in contributions:
            if 0 <= i < days:
                out[i] += value
    return out


@pytest.mark.parametrize("quarters", range(1, 96))
def test_edge_plan_counts_each_local_day_exactly(quarters):
    rng = random.Random(quarters)
    first_s = 1_700_006_400 + quarters * 900  # a UTC midnight + the offset's start of day
    days = 5
    sessions = [first_s - 86400 * 2 + rng.randrange(0, 86400 * 9) for _ in range(400)]
    plan = day_edges(first_s, days)
    want = [sum(first_s + i * 86400 <= t < first_s + (i + 1) * 86400 for t in sessions)
            for i in range(days)]  # fmt: skip
    assert evaluate(plan, first_s, sessions, days) == want
    assert plan["lo_s"] <= min(plan["days_from"], plan["edges_from"])


def test_utc_days_have_no_edge_plan():
    with pytest.raises(ValueError):
        day_edges(1_700_006_400, 3)
