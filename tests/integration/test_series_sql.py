"""The session series query gives exact answers on a current ClickHouse engine (chdb) too, not
only on the 18.16 server the end-to-end tests use: UTC days and hours, whole-hour offsets
(hour rows) and the others (hour rows plus the split hours' quarters)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import chdb.session
import pytest
from clickhouse_driver.util.escape import escape_params

from readapi.series import bucket_params, plan, session_series_query
from sessionflow.tables import statements
from sessionflow.timebuckets import Unit

DB = "series_current"
START = 1_735_689_600  # 2025-01-01T00:00:00Z


@pytest.fixture(scope="module")
def engine():
    session = chdb.session.Session()
    for sql in statements(DB):
        session.query(sql)
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
    session.query(f"INSERT INTO {DB}.session_counts VALUES {values}")
    # An older version of one row, which must lose.
    session.query(f"INSERT INTO {DB}.session_counts VALUES "
                  f"('org', 'app', '', 'day', {START}, 0, 'stream', 99999, 0)")  # fmt: skip
    return session, [t for t, _ in sessions]


def run(session, sql: str, params: dict) -> dict[int, int]:
    query = sql % {k: str(v) for k, v in escape_params(params, None).items()}
    out = str(session.query(query, "CSV")).split()
    return {int(i): int(n) for i, n in (line.split(",") for line in out)}


@pytest.mark.parametrize("minutes", [0, -300, 330, 345, -570, 840])
@pytest.mark.parametrize("unit", [Unit.DAY, Unit.HOUR])
def test_series_on_a_current_engine(engine, minutes, unit):
    session, times = engine
    zone = timezone(timedelta(minutes=minutes))
    end = datetime.fromtimestamp(START + 10 * 86400 + 3600 * 7, UTC).astimezone(zone)
    length = 9 if unit is Unit.DAY else 40
    buckets, stored = plan(end, unit, length)
    sql, extra = session_series_query(DB, False, "", buckets, stored)
    got = run(session, sql, {**bucket_params("org", buckets), **extra})
    answer = [got.get(i, 0) for i in range(length)]
    want = [sum(b.start_ms // 1000 <= t < b.end_ms // 1000 for t in times) for b in buckets]
    assert answer == want and sum(want) > 0
