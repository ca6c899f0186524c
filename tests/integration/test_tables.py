"""The DDL runs on the ClickHouse server CI installs (18.16) and on a current engine (chdb)."""

from __future__ import annotations

import chdb.session

from sessionflow.tables import ensure_tables, statements

TABLES = {
    "sessions", "events", "session_counts", "session_totals", "session_totals_all_apps",
    "session_counts_current", "segments",
    "api_keys", "event_counts", "visitor_quarters", "session_summaries", "concurrent_minutes",
    "sink_progress",
}  # fmt: skip


def test_tables_are_created_idempotently_on_the_server(settings, clickhouse):
    ensure_tables(clickhouse)
    rows = clickhouse.execute(f"SHOW TABLES FROM {settings.clickhouse_database}")
    assert {name for (name,) in rows if not name.startswith(".inner")} == TABLES


def test_ddl_is_valid_on_a_current_clickhouse_engine():
    session = chdb.session.Session()
    for sql in statements("current_release") * 2:
        session.query(sql)
    listed = str(session.query("SHOW TABLES FROM current_release", "CSV"))
    names = {line.strip('"') for line in listed.split()}
    assert {name for name in names if not name.startswith(".inner")} == TABLES
