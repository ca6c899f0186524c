from dataclasses import dataclass, field
from typing import Any

from streams.writeback import WriteBack


@dataclass
class Table:
    """What WriteBack uses of a Faust table: its store (``data``) and ``send_changelog``."""

    data: dict[Any, Any] = field(default_factory=dict)
    changelog: list[tuple[int, Any, Any]] = field(default_factory=list)

    def send_changelog(self, partition: int, key: Any, value: Any) -> None:
        # The store has the value before its changelog record goes out.
        assert self.data[key] == value
        self.changelog.append((partition, key, value))


def test_changes_are_written_once_per_flush_with_their_latest_value() -> None:
    table = Table()
    states = WriteBack(table, max_cached=10)
    for n in range(5):
        states.put(3, "a", n)
    states.put(4, "b", 9)
    assert table.data == {} and table.changelog == []
    assert states.get(3, "a") == 4
    assert states.flush() == 2
    assert table.data == {"a": 4, "b": 9}
    assert sorted(table.changelog) == [(3, "a", 4), (4, "b", 9)]
    assert states.flush() == 0


def test_flush_of_some_partitions_leaves_the_others_pending() -> None:
    table = Table()
    states = WriteBack(table, max_cached=10)
    states.put(1, "a", 1)
    states.put(2, "b", 2)
    states.flush({1})
    assert table.changelog == [(1, "a", 1)]
    states.flush()
    assert table.changelog == [(1, "a", 1), (2, "b", 2)]


def test_a_value_evicted_from_the_cache_is_read_from_pending_then_from_the_store() -> None:
    table = Table()
    states = WriteBack(table, max_cached=2, encode=lambda v: {"n": v}, decode=lambda j: j["n"])
    for key in "abc":
        states.put(0, key, ord(key))
    assert "a" not in states.cached
    assert states.get(0, "a") == ord("a")  # pending, not yet stored
    states.flush()
    assert table.data["a"] == {"n": ord("a")}
    for key in "de":
        states.put(0, key, 0)
    assert states.get(0, "a") == ord("a")  # from the store, decoded
    assert states.get(0, "zz") is None


def test_forget_writes_the_partitions_changes_and_drops_their_cached_values() -> None:
    table = Table()
    written: list[tuple[Any, int]] = []
    states = WriteBack(table, max_cached=10, on_written=lambda k, p: written.append((k, p)))
    states.put(1, "a", 1)
    states.put(2, "b", 2)
    states.forget({1})
    assert table.changelog == [(1, "a", 1)] and written == [("a", 1)]
    assert set(states.cached) == {"b"}
    table.data["a"] = 7  # changed by the partition's next owner
    assert states.get(1, "a") == 7


def test_discard_drops_a_pending_change() -> None:
    table = Table()
    states = WriteBack(table, max_cached=10)
    states.put(1, "a", 1)
    states.discard("a")
    assert states.get(1, "a") is None
    assert states.flush() == 0
