"""The worker's table store: Faust's RocksDB store (``rocksdb://`` on rocksdict) whose databases
share one memory budget.

Faust opens a RocksDB database per table and partition, each with its own block cache and
memtables: the worker's memory grew with tables x partitions (6 x 4 here, 16 MB each, ~380 MB
before its Python heap) and kept growing for a long while as they filled. Here every database
of the process takes its blocks from one LRU cache, with its index and filter blocks charged to
it too (they otherwise grow with the data), and its memtables count against one write-buffer
manager, which flushes the largest when their total reaches its limit. So what RocksDB holds
in memory is ``Settings.worker_rocksdb_memory_mb``, whatever the partition count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rocksdict
from faust.stores import STORES
from faust.stores import rocksdb as faust_rocksdb

SCHEME = "sessionflow-rocksdb"
BUDGET_OPTION = "memory_budget"  # key of the ``MemoryBudget`` in a table's ``options``


@dataclass
class MemoryBudget:
    """The memory every RocksDB database of a process shares: half block cache (with index and
    filter blocks), half memtables. Memtables are not stalled at the limit (a stalled write
    would block the worker's event loop): the manager flushes them instead."""

    total_bytes: int
    cache: rocksdict.Cache = field(init=False)
    write_buffers: rocksdict.WriteBufferManager = field(init=False)

    def __post_init__(self) -> None:
        self.cache = rocksdict.Cache(self.total_bytes // 2)
        self.write_buffers = rocksdict.WriteBufferManager(self.total_bytes // 2, False)

    def usage(self) -> dict[str, int]:
        """Bytes in use now: ``block_cache`` and ``memtables``."""
        return {
            "block_cache": self.cache.get_usage(),
            "memtables": self.write_buffers.get_usage(),
        }


class BudgetedOptions(faust_rocksdb.RocksDBOptions):
    """Faust's rocksdict options, with the cache and the memtables of ``budget``."""

    def __init__(self, budget: MemoryBudget, **options: Any) -> None:
        super().__init__(**options, use_rocksdict=True)
        self.budget = budget

    def open(self, path: Path, *, read_only: bool = False) -> Any:
        kind = rocksdict.AccessType
        access = kind.read_only() if read_only else kind.read_write()
        db = rocksdict.Rdict(str(path), options=self.as_options(), access_type=access)
        db.set_read_options(rocksdict.ReadOptions())
        return db

    def as_options(self) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        if self.max_open_files is not None:
            options.set_max_open_files(self.max_open_files)
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_write_buffer_manager(self.budget.write_buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(self.budget.cache)
        table.set_cache_index_and_filter_blocks(True)
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


class Store(faust_rocksdb.Store):
    """Faust's RocksDB store, its databases opened with the ``MemoryBudget`` found in the
    table's options (Faust builds several stores from one table's options: the budget stays
    in them)."""

    def __init__(self, url: Any, app: Any, table: Any, **kwargs: Any) -> None:
        super().__init__(url, app, table, **kwargs)
        options = dict(self.options or {})  # Faust took "driver" and "read_only" out of it
        budget = options.pop(BUDGET_OPTION)
        self.rocksdb_options = BudgetedOptions(budget, **options)


def store_url() -> str:
    """The store URL of a Faust app or table using ``Store`` (registered with Faust's stores)."""
    STORES.aliases[SCHEME] = f"{__name__}:Store"
    return f"{SCHEME}://"
