"""The worker's module graph."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_worker_does_not_load_clickhouses_driver() -> None:
    """It never talks to ClickHouse; the driver's import alone held ~20 MB (its date tables)."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, streams.app; print('clickhouse_driver' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "False"


def test_tables_in_memory_take_no_rocksdb_budget(tmp_path: Path) -> None:
    from faust.stores.memory import Store as MemoryStore

    from sessionflow.settings import Settings
    from streams.app import create_app

    app = create_app(Settings(state_dir=tmp_path, worker_store="memory"), cluster_id="test")
    assert all(isinstance(table.data, MemoryStore) for table in app.tables.values())
