"""Write-back for the worker's Faust tables: changed values wait in memory and reach the
table's local store and its changelog once per flush (before every offset commit), however
many records changed them meanwhile.

Faust writes a table per assignment: a local-store write (RocksDB: a serialized key and value)
and a changelog record for every change. A session changes its QoE state with each of its ~60
events, and every sessionStart changes the same three windows of its partition: that was half
of the worker's time and most of its changelog. Written back, a state is stored and logged
once per flush (about a second), with the value it has then.

Exactness does not move: the offsets of the source are committed only after a flush (the
worker's ``DurableProducer`` runs the flush hooks first and stops the process on a lost write);
a crash before it loses only writes of records that are replayed, and every value holds the
offsets it applied. The local store is written before the changelog records are sent
(``streams.changelog``), and the store's persisted changelog offset advances only when Kafka
has acknowledged them, so a restart never skips a change the store lacks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faust.stores.rocksdb import Store as RocksDBStore
from faust.utils import json as faust_json

# One partition's changes as the store and the changelog hold them: (key, value) bytes.
Encoded = list[tuple[bytes, bytes]]


def _same(value: Any) -> Any:
    return value


def exact(data: bytes) -> bytes:
    """``data`` copied into an allocation of its own size. Faust's json serializer is orjson's,
    whose bytes keep the buffer they were written in: 4 KB at least (orjson >= 3.12) for a
    100-byte key, and a flush holds thousands of them until Kafka acknowledged their batches
    (10,000 changed states were ~120 MB held, and malloc kept the RSS after)."""
    return b"".join((data, b""))  # a new object (join never returns its item as it is)


@dataclass(frozen=True)
class Changes:
    """What a flush wrote to ``table``'s local store, by partition, for its changelog."""

    table: Any
    by_partition: dict[int, Encoded] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(items) for items in self.by_partition.values())


def _faust_json(value: Any) -> bytes:
    return faust_json.dumps(value)  # type: ignore[return-value]  # orjson: bytes


def serializers(table: Any) -> tuple[Callable[[Any], bytes], Callable[[Any], bytes]]:
    """How ``table``'s store serializes a key and a value. For json (Faust's default for
    tables) Faust's own json ``dumps`` is called directly: the same bytes, without the pass
    through its serializer registry and codec chain for every key and value (~3 us each)."""
    if table.key_serializer == "json" and table.value_serializer == "json":
        return _faust_json, _faust_json
    store = table.data
    return store._encode_key, store._encode_value


def store_write(table: Any, partition: int, items: list[tuple[Any, Any]]) -> Encoded:
    """Write ``items`` (key, value) to ``table``'s local store for ``partition``, outside the
    stream (Faust's own store write takes the partition from the record being processed);
    return them serialized as Faust's store and changelog hold them (the same bytes: Faust's
    recovery puts a changelog record's key and value into RocksDB as they are)."""
    store = table.data
    encode_key, encode_value = serializers(table)
    encoded = [(exact(encode_key(key)), exact(encode_value(value))) for key, value in items]
    if isinstance(store, RocksDBStore):
        db = store._db_for_partition(partition)
        for key_bytes, value_bytes in encoded:
            db.put(key_bytes, value_bytes)
    else:  # memory://: a dict of the values
        for key, value in items:
            store[key] = value
    return encoded


@dataclass
class WriteBack:
    """Changes to one Faust table, by key: kept in memory (``encode``d when written) and read
    through a cache of the ``max_cached`` most recently used values (a miss reads the table's
    store, in the context of the record being processed, and ``decode``s it).

    ``on_written(key, partition)`` runs for every key written at a flush (windowed tables:
    Faust's expiry bookkeeping, which its own writes do)."""

    table: Any
    max_cached: int
    encode: Callable[[Any], Any] = _same
    decode: Callable[[Any], Any] = _same
    on_written: Callable[[Any, int], None] | None = None
    # key -> (partition, value): ``dirty`` waits for the next flush, ``cached`` is read, least
    # recently used first. An OrderedDict: a plain dict evicting its first key scans every slot
    # its earlier evictions left empty (until it resizes), 164 us per eviction at 100,000 keys,
    # which a flood of sessionStarts paid for every session past the cache's size.
    dirty: dict[Any, tuple[int, Any]] = field(default_factory=dict)
    cached: OrderedDict[Any, tuple[int, Any]] = field(default_factory=OrderedDict)

    def get(self, partition: int, key: Any) -> Any:
        """The value of ``key`` (of ``partition``), or None when the table has none."""
        found = self.cached.get(key) or self.dirty.get(key)
        if found is not None:
            return found[1]
        stored = self._stored(partition, key)
        if not stored:
            return None
        value = self.decode(stored)
        self._cache(key, (partition, value))
        return value

    def put(self, partition: int, key: Any, value: Any) -> None:
        self.dirty[key] = self._cache(key, (partition, value))

    def _stored(self, partition: int, key: Any) -> Any:
        """``key``'s value in the table's store. RocksDB: read from ``partition``'s database
        directly (Faust's read looks the partition up from the record being processed, and
        serializes the key through its registry: a third of a sessionStart's table read)."""
        store = self.table.data
        if not isinstance(store, RocksDBStore):
            return store.get(key)
        raw = store._db_for_partition(partition).get(serializers(self.table)[0](key))
        return None if raw is None else store._decode_value(raw)

    def discard(self, key: Any) -> None:
        """Forget ``key``'s pending change and cached value (it is being deleted)."""
        self.dirty.pop(key, None)
        self.cached.pop(key, None)

    def flush(self, partitions: set[int] | None = None) -> Changes:
        """Write the changes (of ``partitions``, default all) to the local store; return them
        for the changelog (``streams.changelog.ChangelogWriter``)."""
        by_partition: dict[int, list[tuple[Any, Any]]] = {}
        for key, (partition, value) in list(self.dirty.items()):
            if partitions is None or partition in partitions:
                del self.dirty[key]
                by_partition.setdefault(partition, []).append((key, self.encode(value)))
        changes = Changes(self.table)
        for partition, items in by_partition.items():
            changes.by_partition[partition] = store_write(self.table, partition, items)
            if self.on_written is not None:
                for key, _ in items:
                    self.on_written(key, partition)
        return changes

    def forget(self, partitions: set[int]) -> Changes:
        """Write the changes of ``partitions`` to the store and drop their cached values (the
        partitions' next owner may change them); return the changes for the changelog."""
        changes = self.flush(partitions)
        for key in [k for k, (p, _) in self.cached.items() if p in partitions]:
            del self.cached[key]
        return changes

    def _cache(self, key: Any, entry: tuple[int, Any]) -> tuple[int, Any]:
        cached = self.cached
        if key in cached:
            cached.move_to_end(key)  # the oldest goes first
        cached[key] = entry
        if len(cached) > self.max_cached:
            cached.popitem(last=False)
        return entry
