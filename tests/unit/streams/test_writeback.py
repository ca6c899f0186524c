from pathlib import Path
from typing import Any

import faust

from streams import rocksdb
from streams.app import ROCKSDB_OPTIONS
from streams.writeback import WriteBack, serializers


def table(name: str = "states") -> Any:
    """A real Faust table on the memory store (nothing started: WriteBack uses its store)."""
    app = faust.App(f"writeback-test-{name}", broker="kafka://127.0.0.1:1", store="memory://")
    return app.Table(name, default=int, partitions=8, key_type=str)


def changelog(changes: Any) -> list[tuple[int, Any, Any]]:
    store = changes.table.data
    return sorted(
        (partition, store._decode_key(key), store._decode_value(value))
        for partition, items in changes.by_partition.items()
        for key, value in items
    )


def test_changes_are_written_once_per_flush_with_their_latest_value() -> None:
    states = WriteBack(table(), max_cached=10)
    for n in range(5):
        states.put(3, "a", n)
    states.put(4, "b", 9)
    assert dict(states.table.data) == {}
    assert states.get(3, "a") == 4
    changes = states.flush()
    assert len(changes) == 2
    assert dict(states.table.data) == {"a": 4, "b": 9}  # in the store before the changelog
    assert changelog(changes) == [(3, "a", 4), (4, "b", 9)]
    assert len(states.flush()) == 0


def test_the_changelog_bytes_are_the_store_serialization() -> None:
    states = WriteBack(table(), max_cached=10)
    states.put(1, "a", 7)
    [(key, value)] = states.flush().by_partition[1]
    store = states.table.data
    assert (key, value) == (store._encode_key("a"), store._encode_value(7))


def test_flush_of_some_partitions_leaves_the_others_pending() -> None:
    states = WriteBack(table(), max_cached=10)
    states.put(1, "a", 1)
    states.put(2, "b", 2)
    assert changelog(states.flush({1})) == [(1, "a", 1)]
    assert changelog(states.flush()) == [(2, "b", 2)]


def test_a_value_evicted_from_the_cache_is_read_from_pending_then_from_the_store() -> None:
    states = WriteBack(
        table(), max_cached=2, encode=lambda v: v * 10, decode=lambda stored: stored // 10
    )
    for key in "abc":
        states.put(0, key, ord(key))
    assert "a" not in states.cached
    assert states.get(0, "a") == ord("a")  # pending, not yet stored
    states.flush()
    assert states.table.data["a"] == ord("a") * 10
    for key in "de":
        states.put(0, key, 1)
    assert states.get(0, "a") == ord("a")  # from the store, decoded
    assert states.get(0, "zz") is None


def test_forget_writes_the_partitions_changes_and_drops_their_cached_values() -> None:
    written: list[tuple[Any, int]] = []
    states = WriteBack(table(), max_cached=10, on_written=lambda k, p: written.append((k, p)))
    states.put(1, "a", 1)
    states.put(2, "b", 2)
    assert changelog(states.forget({1})) == [(1, "a", 1)] and written == [("a", 1)]
    assert set(states.cached) == {"b"}
    states.table.data["a"] = 7  # changed by the partition's next owner
    assert states.get(1, "a") == 7


def test_discard_drops_a_pending_change() -> None:
    states = WriteBack(table(), max_cached=10)
    states.put(1, "a", 1)
    states.discard("a")
    assert states.get(1, "a") is None
    assert len(states.flush()) == 0


def test_the_cache_drops_the_least_recently_written_value_first() -> None:
    states = WriteBack(table(), max_cached=2)
    states.put(0, "a", 1)
    states.put(0, "b", 2)
    states.put(0, "a", 3)  # a is now the most recent
    states.put(0, "c", 4)
    assert list(states.cached) == ["a", "c"]
    for n in range(10_000):  # far past its size: stays at it, oldest first
        states.put(0, f"k{n}", n)
    assert list(states.cached) == ["k9998", "k9999"]


def test_the_direct_serialization_is_fausts_own() -> None:
    """The write-back serializes with Faust's json ``dumps`` directly: the bytes Faust's store
    and its changelog recovery would have, for every kind of key and value the worker keeps."""
    states, windows = table("states"), table("windows")
    encode_key, encode_value = serializers(states)
    store = states.data
    for key in ("a", '["org","app",3]', ("k", (900.0, 1799.9)), "é\u2028"):
        assert encode_key(key) == store._encode_key(key)
    for value in ({"a": 1, "b": None, "c": 1.5, "d": [1, 2]}, {"": [3, 17]}, 7, [], {}):
        assert encode_value(value) == store._encode_value(value)
    assert serializers(windows)[0](("k", (0.0, 899.9))) == windows.data._encode_key(
        ("k", (0.0, 899.9))
    )


def test_a_value_not_cached_is_read_from_its_partition_in_rocksdb(tmp_path: Path) -> None:
    app = faust.App("writeback-rocksdb", store=rocksdb.store_url(), datadir=str(tmp_path))
    options = {**ROCKSDB_OPTIONS, rocksdb.BUDGET_OPTION: rocksdb.MemoryBudget(8 * 2**20)}
    states = WriteBack(
        app.Table("states", default=dict, partitions=4, key_type=str, options=options),
        max_cached=1,
        encode=lambda v: {"n": v},
        decode=lambda stored: stored["n"],
    )
    states.put(2, "s1", 5)
    states.put(3, "s2", 6)
    states.flush()
    states.put(3, "s3", 7)  # s1 and s2 out of the cache
    assert "s1" not in states.cached and "s2" not in states.cached
    assert states.get(2, "s2") is None  # held by partition 3's database, not 2's
    assert states.get(2, "s1") == 5 and states.get(3, "s2") == 6  # read from RocksDB
    assert states.get(1, "none") is None
