"""CPython's cyclic garbage collector in sessionflow's long-running processes: how often it
runs, what it leaves alone, and its pauses as a metric.

Nearly everything the edge, the worker and the sink allocate per record is freed by reference
counting the moment it is dropped; the cyclic collector only has to find the few cycles
(an exception's traceback, a finished task). With CPython's thresholds (700, 10, 10), under
the capacity load, it ran ~12,000 times in the edge in 2.5 minutes and, as caches of sessions
filled the oldest generation, a full collection every ~1.5 s (20 ms at the median, up to 71 ms;
in the sink 41 ms, up to 127 ms): the process answered nothing meanwhile (bench/HISTORY.md,
"the garbage collector"). ``tune`` sets the first threshold from settings (the edge then
collected once in a run), moves what startup made (modules, classes, the app) out of the
collector's way (``gc.freeze``: a full collection no longer walks them), and times every
collection into ``sessionflow_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from sessionflow.metrics import GC_PAUSES

_started: list[float] = [0.0]  # when the collection in progress began


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        GC_PAUSES.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def tune(threshold: int) -> None:
    """Run the collector once ``threshold`` more objects are allocated than freed, set aside
    everything alive now (call once startup has built the process's objects), and time every
    collection from now on."""
    gc.set_threshold(threshold)  # the older generations' thresholds stay CPython's (10, 10)
    if _timed not in gc.callbacks:
        gc.callbacks.append(_timed)
    gc.collect()  # timed too: a process's metrics show a full collection from its start
    gc.freeze()


__all__ = ["tune"]
