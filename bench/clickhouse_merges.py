"""What ClickHouse does with the sink's small inserts: N inserts of a few rows each into the
``sessions`` table (sessionflow's own DDL), into an empty table and into one already holding a
large part, counting from ClickHouse's ``system.events`` the rows it merged, the bytes it
rewrote and the files it opened, and the merge level the new data's part reached.

A sink batch carries a few dozen sessionStarts among thousands of events (one per ~60 requests),
so ``sessions`` gets a part of a few dozen rows ~2 times a second; under 1 MB ClickHouse merges
parts as soon as two are there, so the part holding the new rows is rewritten for nearly every
insert. The large part shows whether a table's history changes that (it does not: the new
parts merge among themselves).

Needs ClickHouse (scripts/services up). Run:
    .venv/bin/python bench/clickhouse_merges.py [--inserts 600] [--rows 30] [--history 5000000]
Writes bench/results/clickhouse_merges.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sessionflow.clickhouse import ClickHouse  # noqa: E402
from sessionflow.settings import Settings  # noqa: E402
from sessionflow.tables import ensure_tables  # noqa: E402

HERE = ROOT / "bench"
COUNTERS = ("InsertQuery", "MergedRows", "MergedUncompressedBytes", "FileOpen")
COLUMNS = "session_id, org_id, app_id, session_time, media_id, channel"


def counters(clickhouse: ClickHouse) -> dict[str, int]:
    names = ", ".join(f"'{name}'" for name in COUNTERS)
    rows = clickhouse.execute(f"SELECT event, value FROM system.events WHERE event IN ({names})")
    return {str(name): int(value) for name, value in rows}


def rows_sql(database: str, first: int, count: int, hour: int) -> str:
    """``count`` sessions numbered from ``first``, generated inside ClickHouse."""
    return (
        f"INSERT INTO {database}.sessions ({COLUMNS}) "
        f"SELECT lower(hex(SHA256(toString(number + {first})))), 'BENCH@AdobeOrg', 'app', "
        f"toDateTime('2026-11-27 {hour:02d}:00:00') + number % 3600, 'media', 'channel' "
        f"FROM numbers({count})"
    )


def run(settings: Settings, database: str, inserts: int, rows: int, history: int) -> dict:
    clickhouse = ClickHouse(settings, pool_size=1, database=database)
    clickhouse.execute(f"DROP DATABASE IF EXISTS {database}")
    ensure_tables(clickhouse)
    if history:
        for start in range(0, history, 1_000_000):
            clickhouse.execute(rows_sql(database, start, min(1_000_000, history - start), 0))
        clickhouse.execute(f"OPTIMIZE TABLE {database}.sessions FINAL")
    before = counters(clickhouse)
    began = time.monotonic()
    for n in range(inserts):  # ~2 a second, as the sink's batches under steady traffic
        clickhouse.execute(rows_sql(database, history + n * rows, rows, 1))
        time.sleep(0.05)
    seconds = time.monotonic() - began
    time.sleep(10)  # the merges the last inserts started
    after = counters(clickhouse)
    delta = {name: after[name] - before[name] for name in COUNTERS}
    parts = clickhouse.execute(
        "SELECT rows, level FROM system.parts WHERE active AND database = %(db)s "
        "AND table = 'sessions' ORDER BY rows DESC",
        {"db": database},
    )
    clickhouse.execute(f"DROP DATABASE IF EXISTS {database}")
    clickhouse.close()
    inserted = inserts * rows
    return {
        "history_rows": history,
        "inserts": inserts,
        "rows_per_insert": rows,
        "insert_seconds": round(seconds, 1),
        "counters": delta,
        "rows_merged_per_row_inserted": round(delta["MergedRows"] / inserted, 1),
        "files_opened_per_insert": round(delta["FileOpen"] / inserts),
        "active_parts_rows_level": [[int(r), int(level)] for r, level in parts],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inserts", type=int, default=600)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--history", type=int, default=5_000_000)
    parser.add_argument("--out", default="clickhouse_merges.json")
    args = parser.parse_args()
    settings = Settings()
    results = {
        "empty": run(settings, "bench_merges_empty", args.inserts, args.rows, 0),
        "behind_history": run(
            settings, "bench_merges_history", args.inserts, args.rows, args.history
        ),
        "note": "system.events counts the whole server: run it on an otherwise idle ClickHouse",
    }
    (HERE / "results" / Path(args.out).name).write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
