from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from sessionflow import garbage


@pytest.fixture
def restored() -> Iterator[None]:
    """The test process's collector as it was (thresholds, nothing frozen, no callback)."""
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    yield
    gc.set_threshold(*thresholds)
    gc.unfreeze()
    gc.callbacks[:] = callbacks


def pauses(generation: int) -> float:
    value = REGISTRY.get_sample_value(
        "sessionflow_gc_pause_seconds_count", {"generation": str(generation)}
    )
    return value or 0.0


@pytest.mark.usefixtures("restored")
def test_tune_sets_the_threshold_freezes_startup_and_times_collections() -> None:
    garbage.tune(20_000)

    assert gc.get_threshold()[0] == 20_000
    assert gc.get_freeze_count() > 1000  # the modules, classes and functions loaded so far
    before = pauses(2)
    gc.collect()
    assert pauses(2) == before + 1


@pytest.mark.usefixtures("restored")
def test_tune_twice_times_each_collection_once() -> None:
    garbage.tune(5_000)
    garbage.tune(5_000)

    before = pauses(2)
    gc.collect()
    assert pauses(2) == before + 1
    assert gc.get_threshold()[0] == 5_000
