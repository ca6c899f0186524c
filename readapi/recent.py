"""What a read API process read from ClickHouse a moment ago (API keys, segments), served again
for a few seconds instead of a query per request."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Entries kept at most; past it, all are dropped and read again.
MAX_ENTRIES = 100_000


class Recent(Generic[K, V]):
    """Values by key, each served for ``seconds`` after it was read or put (0: read every
    time). Every access is one dict operation: safe from the threads the API queries on."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K, read: Callable[[], V]) -> V:
        """The value of ``key`` read at most ``seconds`` ago, else ``read()`` (kept)."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self._seconds:
            return entry[1]
        value = read()
        self.put(key, value, now)
        return value

    def put(self, key: K, value: V, now: float | None = None) -> None:
        """Keep ``value`` as what ``key`` is now (a change this process made)."""
        if len(self._entries) > MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() if now is None else now, value)
