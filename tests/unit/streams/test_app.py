"""The worker's module graph."""

from __future__ import annotations

import subprocess
import sys


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
