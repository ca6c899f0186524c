"""The session series query gives exact answers on a current ClickHouse engine (chdb) too, not
only on the 18.16 server the end-to-end tests use: UTC days and hours, and days and hours in
other offsets (stored buckets added and taken away; over all apps, hours in quarter-hour
offsets from the shifted hours), from totals settled out of
``session_counts`` on its sorting key and on the one tables created by earlier versions keep."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import chdb.session
import pytest
from clickhouse_driver.util.escape import escape_params

from readapi.series import combine, session_series_query
from sessionflow.tables import statements
from sessionflow.timebuckets import Unit, series_buckets, series_tiling
from sessionflow.totals import settle_sql, shifted_hours_sql, shifted_params

START = 1_735_689_600  # 2025-01-01T00:00:00Z


# ``session_counts`` as tables created before the quarter rows' time of day joined its key.
BEFORE_KEY = "ORDER BY (org_id, segment_id, unit, bucket_start, app_id, source_partition, origin)"


@pytest.fixture(scope="module", params=["series_current_key", "series_key_before"])
def engine(request):
    # A database of its own per key: chdb may hand every Session of a process the same engine.
    db = request.param
    session = chdb.session.Session()
    session.query(f"DROP DATABASE IF EXISTS {db}")
    for sql in statements(db):
        if db == "series_key_before" and "session_counts (" in sql:
            sql = sql[: sql.index("ORDER BY")] + BEFORE_KEY
        session.query(sql)
    key = (
        f"SELECT sorting_key FROM system.tables WHERE database = '{db}' AND name = 'session_counts'"
    )
    assert ("toUInt32" in str(session.query(key, "CSV"))) is (db == "series_current_key")
    rng = random.Random(5)
    sessions = [(START + rng.randrange(0, 12 * 86400), rng.randrange(4)) for _ in range(3000)]
    counts: dict[tuple[str, int, int], int] = {}
    for t, partition in sessions:
        for unit in (Unit.QUARTER, Unit.HOUR, Unit.DAY):
            width = unit.ms // 1000
            key = (unit.value, t - t % width, partition)
            counts[key] = counts.get(key, 0) + 1
    values = ", ".join(
        f"('org', 'app', '', '{unit}', {start}, {partition}, 'stream', {n}, {2 * n})"
        for (unit, start, partition), n in counts.items()
    )
    session.query(f"INSERT INTO {db}.session_counts VALUES {values}")
    # An older version of one row, which must lose.
    session.query(f"INSERT INTO {db}.session_counts VALUES "
                  f"('org', 'app', '', 'day', {START}, 0, 'stream', 99999, 0)")  # fmt: skip
    for sql in settle_sql(db, "1"):
        session.query(sql)
    shifted = shifted_hours_sql(db, "1") % shifted_params(START, START + 13 * 86400)
    session.query(shifted)
    return session, db, [t for t, _ in sessions]


def run(session, sql: str, params: dict) -> list[tuple[str, int, int]]:
    query = sql % {k: str(v) for k, v in escape_params(params, None).items()}
    out = str(session.query(query, "CSV")).split()
    return [(u.strip('"'), int(s), int(n)) for u, s, n in (line.split(",") for line in out)]


@pytest.mark.parametrize("minutes", [0, -300, 330, 345, -570, 840, -720, 60])
@pytest.mark.parametrize("unit", [Unit.DAY, Unit.HOUR])
@pytest.mark.parametrize("apps", [None, ("app",)], ids=["all-apps", "named-app"])
def test_series_on_a_current_engine(engine, minutes, unit, apps):
    session, db, times = engine
    zone = timezone(timedelta(minutes=minutes))
    end = datetime.fromtimestamp(START + 10 * 86400 + 3600 * 7, UTC).astimezone(zone)
    length = 9 if unit is Unit.DAY else 40
    buckets = series_buckets(end, unit, length)
    tiling = series_tiling(buckets, shifted_hours=apps is None)
    sql, params = session_series_query(db, apps is not None, "", tiling)
    assert ("session_totals_all_apps" in sql) is (apps is None)
    params = {**params, "org": "org", **({"apps": apps} if apps else {})}
    answer = combine(tiling, run(session, sql, params))
    want = [sum(b.start_ms // 1000 <= t < b.end_ms // 1000 for t in times) for b in buckets]
    assert answer == want and sum(want) > 0
