"""A value read a moment ago is served again for the cache time, then read afresh."""

from __future__ import annotations

from readapi import recent
from readapi.recent import Recent


def test_served_within_its_time_then_read_again(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(recent.time, "monotonic", lambda: clock[0])
    reads: list[str] = []

    def read(value):
        return lambda: reads.append(value) or value

    cache: Recent[str, str | None] = Recent(2.0)
    assert cache.get("k", read("a")) == "a"
    clock[0] += 1.9
    assert cache.get("k", read("b")) == "a"
    clock[0] += 0.2
    assert cache.get("k", read("b")) == "b"
    cache.put("k", None)  # a change made here: served at once, a None too
    assert cache.get("k", read("c")) is None
    assert reads == ["a", "b"]


def test_zero_seconds_reads_every_time():
    cache: Recent[str, int] = Recent(0)
    values = iter(range(3))
    assert [cache.get("k", lambda: next(values)) for _ in range(3)] == [0, 1, 2]


def test_bounded(monkeypatch):
    monkeypatch.setattr(recent, "MAX_ENTRIES", 2)
    cache: Recent[int, int] = Recent(60)
    for n in range(4):  # the fourth finds more than 2 kept: all dropped, then it is kept
        cache.put(n, n)
    assert cache.get(0, lambda: -1) == -1
    assert cache.get(3, lambda: -1) == 3
