"""``session_totals`` on the real ClickHouse server: each window's partitions and origins added
up; a settle that saw more rows wins whichever settle lands last; an install from before the
totals gets them filled when its tables are ensured; the sink settles what it stores."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from schemas import codec
from sessionflow.records import ConsumedRecord
from sessionflow.tables import ensure_tables
from sessionflow.topics import Topics
from sessionflow.totals import settle_range, settle_windows
from sinks.writer import ClickHouseWriter

HOUR = int(datetime(2025, 3, 1, 10, tzinfo=UTC).timestamp())
DAY = HOUR - HOUR % 86400
COLUMNS = ("org_id", "app_id", "segment_id", "unit", "bucket_start", "source_partition",
           "origin", "count", "version")  # fmt: skip


def totals(clickhouse, unit: str = "hour") -> dict[tuple[str, int], int]:
    db = clickhouse.database
    rows = clickhouse.execute(
        f"SELECT app_id, toUInt32(bucket_start), argMax(sessions, version) "
        f"FROM {db}.session_totals WHERE unit = %(unit)s GROUP BY app_id, bucket_start",
        {"unit": unit},
    )
    return {(app, start): n for app, start, n in rows}


def all_apps(clickhouse, unit: str = "hour", shifted: bool = False) -> dict[int, int]:
    """The all-apps totals of ``unit``; of hours, the whole ones, or with ``shifted`` those
    starting at :15, :30 and :45."""
    db = clickhouse.database
    phase = "!=" if shifted else "="
    rows = clickhouse.execute(
        f"SELECT toUInt32(bucket_start), sessions FROM {db}.session_totals_all_apps FINAL "
        f"WHERE unit = %(unit)s AND (unit != 'hour' OR toUInt32(bucket_start) %% 3600 {phase} 0)",
        {"unit": unit},
    )
    return dict(rows)


def quarters(*rows: tuple[str, int, int, int, int]) -> list[tuple]:
    """``session_counts`` quarter rows of org ``org``: (app, start, partition, count, version)."""
    return [("org", app, "", "quarter", start, p, "stream", n, v) for app, start, p, n, v in rows]


def test_shifted_hours_add_up_their_four_quarters_over_the_apps(clickhouse):
    """An hour starting at :15, :30 or :45 is the sum of its quarters over every app, settled
    whole whatever range of quarters a settle names."""
    db = clickhouse.database
    starts = [HOUR + k * 900 for k in range(5)]
    clickhouse.insert("session_counts", COLUMNS, quarters(
        ("a", starts[0], 0, 1, 1), ("b", starts[0], 1, 2, 1), ("a", starts[1], 0, 4, 1),
        ("a", starts[2], 2, 8, 1), ("b", starts[3], 3, 16, 1), ("a", starts[4], 0, 32, 1),
    ))  # fmt: skip
    # As a sink does: each quarter settled when its counts are stored, one batch each.
    for start in starts:
        settle_windows(clickhouse, [("org", "", "quarter", start)])
    want = {
        HOUR - 2700: 0 + 3,  # its quarters before HOUR were never stored: 0
        HOUR - 1800: 3 + 4,
        HOUR - 900: 3 + 4 + 8,
        HOUR + 900: 4 + 8 + 16 + 32,
        HOUR + 1800: 8 + 16 + 32,
        HOUR + 2700: 16 + 32,
    }
    assert all_apps(clickhouse, shifted=True) == want
    assert all_apps(clickhouse) == {}  # no whole hour was named
    # Settled again, in one batch or by range (reconcile, backfill): the same totals.
    settle_windows(clickhouse, [("org", "", "quarter", start) for start in starts])
    settle_range(clickhouse, DAY, DAY + 86400)
    assert all_apps(clickhouse, shifted=True) == want
    clickhouse.execute(f"OPTIMIZE TABLE {db}.session_totals_all_apps FINAL")
    assert all_apps(clickhouse, shifted=True) == want


def test_the_shifted_hour_that_saw_newer_quarters_wins(clickhouse):
    db = clickhouse.database
    clickhouse.insert("session_counts", COLUMNS, quarters(("a", HOUR, 0, 5, 3)))
    settle_windows(clickhouse, [("org", "", "quarter", HOUR)])
    early = clickhouse.execute(
        f"SELECT org_id, segment_id, unit, bucket_start, sessions, version "
        f"FROM {db}.session_totals_all_apps WHERE toUInt32(bucket_start) = {HOUR - 1800}"
    )
    clickhouse.insert("session_counts", COLUMNS, quarters(("a", HOUR, 1, 2, 1)))
    clickhouse.insert("session_counts", COLUMNS, quarters(("b", HOUR - 1800, 0, 1, 9)))
    settle_windows(clickhouse, [("org", "", "quarter", HOUR), ("org", "", "quarter", HOUR - 1800)])
    # The first settle's row lands again last, as a slower sink's would: the newer still wins.
    clickhouse.insert(
        "session_totals_all_apps",
        ("org_id", "segment_id", "unit", "bucket_start", "sessions", "version"),
        [tuple(row) for row in early],
    )
    assert all_apps(clickhouse, shifted=True)[HOUR - 1800] == 5 + 2 + 1
    assert all_apps(clickhouse, "quarter") == {HOUR: 7, HOUR - 1800: 1}


def test_an_install_from_before_the_shifted_hours_gets_them_filled(clickhouse):
    db = clickhouse.database
    clickhouse.insert("session_counts", COLUMNS, quarters(
        ("a", HOUR, 0, 5, 3), ("a", DAY - 40 * 86400 + 900, 0, 2, 1),
    ))  # fmt: skip
    settle_range(clickhouse, DAY - 40 * 86400, DAY + 86400)
    clickhouse.execute(
        f"ALTER TABLE {db}.session_totals_all_apps DELETE "
        f"WHERE unit = 'hour' AND toUInt32(bucket_start) % 3600 != 0"
    )
    for _ in range(100):  # a mutation: applied in the background
        if not all_apps(clickhouse, shifted=True):
            break
        time.sleep(0.1)
    assert not all_apps(clickhouse, shifted=True)
    ensure_tables(clickhouse)
    assert all_apps(clickhouse, shifted=True) == {
        **{HOUR - k: 5 for k in (2700, 1800, 900)},
        **{DAY - 40 * 86400 + 900 - k: 2 for k in (2700, 1800, 0)},
    }


def test_a_total_adds_up_each_partitions_and_origins_newest_row(clickhouse):
    clickhouse.insert("session_counts", COLUMNS, [
        ("org", "a", "", "hour", HOUR, 0, "stream", 7, 4),
        ("org", "a", "", "hour", HOUR, 0, "stream", 5, 2),  # older: loses
        ("org", "a", "", "hour", HOUR, 1, "stream", 4, 9),  # another partition: added
        ("org", "a", "", "hour", HOUR, 1, "backfill", 3, 1),  # another origin: added
        ("org", "b", "", "hour", HOUR, 0, "stream", 2, 2),  # another app: its own total
        ("org", "a", "", "hour", HOUR + 3600, 0, "stream", 1, 2),
    ])  # fmt: skip
    settle_range(clickhouse, DAY, DAY + 86400)
    assert totals(clickhouse) == {("a", HOUR): 14, ("b", HOUR): 2, ("a", HOUR + 3600): 1}
    assert all_apps(clickhouse) == {HOUR: 16, HOUR + 3600: 1}  # the apps' totals added up


def test_the_settle_that_saw_more_wins_whatever_lands_last(clickhouse):
    """Two sinks settle the same window: the one that read before the other partition's row
    landed writes its total last. The newer total still answers."""
    db = clickhouse.database
    clickhouse.insert(
        "session_counts", COLUMNS, [("org", "a", "", "hour", HOUR, 0, "stream", 7, 4)]
    )
    settle_windows(clickhouse, [("org", "", "hour", HOUR)])
    early = clickhouse.execute(f"SELECT * FROM {db}.session_totals")
    clickhouse.insert(
        "session_counts", COLUMNS, [("org", "a", "", "hour", HOUR, 1, "stream", 4, 2)]
    )
    settle_windows(clickhouse, [("org", "", "hour", HOUR)])
    assert totals(clickhouse) == {("a", HOUR): 11}
    clickhouse.insert(
        "session_totals",
        ("org_id", "app_id", "segment_id", "unit", "bucket_start", "sessions", "version"),
        [tuple(row) for row in early],
    )
    assert totals(clickhouse) == {("a", HOUR): 11}
    clickhouse.execute(f"OPTIMIZE TABLE {db}.session_totals FINAL")
    assert clickhouse.execute(f"SELECT sessions FROM {db}.session_totals") == [(11,)]
    # A newer row of a partition raises the total's version, as a settle that saw it must.
    clickhouse.insert(
        "session_counts", COLUMNS, [("org", "a", "", "hour", HOUR, 1, "stream", 6, 8)]
    )
    settle_windows(clickhouse, [("org", "", "hour", HOUR)])
    assert totals(clickhouse) == {("a", HOUR): 13}
    assert all_apps(clickhouse) == {HOUR: 13}


def test_an_install_from_before_the_totals_gets_them_filled(clickhouse):
    db = clickhouse.database
    clickhouse.execute(f"DROP TABLE {db}.session_totals")
    clickhouse.insert("session_counts", COLUMNS, [
        ("org", "a", "", "day", DAY, 0, "stream", 7, 4),
        ("org", "a", "", "day", DAY, 3, "stream", 2, 4),
        ("org", "a", "", "day", DAY - 40 * 86400, 2, "stream", 5, 4),
    ])  # fmt: skip
    ensure_tables(clickhouse)
    assert totals(clickhouse, "day") == {("a", DAY): 9, ("a", DAY - 40 * 86400): 5}
    assert all_apps(clickhouse, "day") == {DAY: 9, DAY - 40 * 86400: 5}
    ensure_tables(clickhouse)  # once only: the table exists now
    assert clickhouse.execute(f"SELECT count() FROM {db}.session_totals") == [(2,)]


def test_an_install_from_before_the_all_apps_totals_gets_them_filled(clickhouse):
    db = clickhouse.database
    clickhouse.insert("session_counts", COLUMNS, [
        ("org", "a", "", "day", DAY, 0, "stream", 7, 4),
        ("org", "b", "", "day", DAY, 3, "stream", 2, 4),
    ])  # fmt: skip
    settle_range(clickhouse, DAY, DAY + 86400)
    clickhouse.execute(f"DROP TABLE {db}.session_totals_all_apps")
    ensure_tables(clickhouse)
    assert all_apps(clickhouse, "day") == {DAY: 9}
    assert totals(clickhouse, "day") == {("a", DAY): 7, ("b", DAY): 2}


def test_the_sink_settles_the_windows_it_stores(settings, clickhouse):
    topics = Topics(settings.topic_prefix)
    writer = ClickHouseWriter(clickhouse, topics, 5000)

    def count(partition: int, n: int, version: int) -> ConsumedRecord:
        value = {"org_id": "org", "app_id": "a", "segment_id": "", "unit": "quarter",
                 "bucket_start_ms": HOUR * 1000, "source_partition": partition, "count": n,
                 "version": version,
                 "more": [{"segment_id": "", "unit": "hour", "bucket_start_ms": HOUR * 1000,
                           "count": n, "version": version}]}  # fmt: skip
        return ConsumedRecord(
            topics.session_counts, partition, version, None, codec.session_counts().encode(value)
        )

    writer.write([count(0, 3, 2), count(1, 2, 2)])
    writer.write([count(0, 5, 6)])
    writer.write([count(0, 5, 6)])  # redelivered: the same total
    assert totals(clickhouse, "quarter") == {("a", HOUR): 7}
    assert totals(clickhouse, "hour") == {("a", HOUR): 7}
    assert all_apps(clickhouse, "quarter") == {HOUR: 7} and all_apps(clickhouse) == {HOUR: 7}
    assert all_apps(clickhouse, shifted=True) == {HOUR - k: 7 for k in (2700, 1800, 900)}
