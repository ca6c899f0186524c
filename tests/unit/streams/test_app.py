"""The worker's module graph, and how it publishes counts."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from schemas import codec
from streams import counting
from streams.app import Counter


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


def test_counts_go_out_once_per_window_key_while_the_agent_keeps_counting() -> None:
    """A send yields to the agent, which touches the window again: that touch waits for the
    next call instead of making this one send again (once a record per few starts)."""
    window = counting.windows("org", "app", 1_795_700_000_000, 3)[1]
    counter: Any = SimpleNamespace(pending={}, counts_codec=codec.session_counts())
    sent: list[tuple[bytes, dict[str, Any]]] = []

    def touch(count: int) -> None:
        touched = counter.pending.setdefault(window.key, {})
        touched[(window.unit, window.bucket_start_ms, counting.ALL_SESSIONS)] = (
            window,
            counting.ALL_SESSIONS,
            [count, count],
        )

    async def send(*, key: bytes, value: bytes) -> None:
        sent.append((key, counter.counts_codec.decode(value)))
        if len(sent) < 5:  # the agent counts a start while the record is sent
            touch(len(sent) + 1)
        await asyncio.sleep(0)

    counter.counts_out = SimpleNamespace(send=send)
    touch(1)
    asyncio.run(Counter.send_counts(counter))
    assert [(key, record["count"]) for key, record in sent] == [(window.key.encode(), 1)]
    assert list(counter.pending) == [window.key]  # sent by the next call
    asyncio.run(Counter.send_counts(counter))
    assert [record["count"] for _, record in sent] == [1, 2]
