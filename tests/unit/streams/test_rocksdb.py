"""The worker's table store on real RocksDB databases (rocksdict, no broker): every table
partition's database takes its memory from the process's one budget."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from streams import rocksdb
from streams.app import ROCKSDB_OPTIONS

MB = 1024 * 1024


def tables(tmp_path: Path, budget: rocksdb.MemoryBudget, names: int) -> list[object]:
    """Stores of ``names`` tables of an app on the budgeted store."""
    app = faust.App("rocksdb-test", store=rocksdb.store_url(), datadir=str(tmp_path))
    options = {**ROCKSDB_OPTIONS, rocksdb.BUDGET_OPTION: budget}
    return [
        app.Table(f"t{n}", default=dict, partitions=4, options=dict(options)).data
        for n in range(names)
    ]


def test_every_partition_database_shares_the_budget(tmp_path: Path) -> None:
    budget = rocksdb.MemoryBudget(64 * MB)
    first, second = tables(tmp_path, budget, 2)
    assert isinstance(first, rocksdb.Store) and isinstance(second, rocksdb.Store)
    before = budget.usage()["memtables"]
    for store in (first, second):
        for partition in range(4):
            db = store._db_for_partition(partition)
            for n in range(2000):
                db[f"{partition}-{n}".encode()] = b"v" * 200
    # Eight databases wrote into the one write-buffer manager.
    assert budget.usage()["memtables"] >= before + 8 * 2000 * 200
    db = first._db_for_partition(3)
    db.flush()
    assert db[b"3-1999"] == b"v" * 200  # read back through the shared block cache
    assert 0 < budget.usage()["block_cache"] <= 32 * MB


def test_a_second_store_of_a_table_keeps_the_budget(tmp_path: Path) -> None:
    """Faust builds more than one store from a table's options, and pops keys from them."""
    budget = rocksdb.MemoryBudget(16 * MB)
    (store,) = tables(tmp_path, budget, 1)
    again = store.table._new_store()
    assert isinstance(again, rocksdb.Store)
    assert again.rocksdb_options.budget is budget is store.rocksdb_options.budget


def test_memtables_stay_within_the_budget_however_many_databases(tmp_path: Path) -> None:
    budget = rocksdb.MemoryBudget(8 * MB)  # 4 MB of memtables for 24 databases
    stores = tables(tmp_path, budget, 6)
    value = b"x" * 1000
    for round_ in range(6):  # 3.6 MB into each database: under its own 4 MB write buffer, so
        for store in stores:  # without the manager all 86 MB would still be in memtables
            for partition in range(4):
                db = store._db_for_partition(partition)
                for n in range(600):
                    db[f"{round_}-{n}".encode()] = value

    def held() -> int:
        return sum(
            store._db_for_partition(p).property_int_value("rocksdb.cur-size-all-mem-tables")
            for store in stores
            for p in range(4)
        )

    # Flushed as the manager asked: what stays is what each database got since its last flush
    # (12-25 MB here, depending on when the background flushes ran), not all 86 MB written.
    assert held() <= 48 * MB and budget.usage()["memtables"] <= 48 * MB
    assert stores[5]._db_for_partition(3)[b"5-599"] == value


@pytest.mark.parametrize("total_mb", [8, 64])
def test_the_budget_splits_between_cache_and_memtables(total_mb: int) -> None:
    budget = rocksdb.MemoryBudget(total_mb * MB)
    assert budget.write_buffers.get_buffer_size() == total_mb * MB // 2
    assert budget.usage() == {"block_cache": 0, "memtables": 0}


def test_every_table_of_the_worker_shares_the_budget_of_its_settings(tmp_path: Path) -> None:
    from sessionflow.settings import Settings
    from streams.app import create_app

    settings = Settings(state_dir=tmp_path, worker_rocksdb_memory_mb=24)
    app = create_app(settings, cluster_id="test")
    stores = [table.data for table in app.tables.values()]
    assert len(stores) == 6 and all(isinstance(store, rocksdb.Store) for store in stores)
    budgets = {id(store.rocksdb_options.budget) for store in stores}
    assert len(budgets) == 1
    assert stores[0].rocksdb_options.budget.total_bytes == 24 * MB
