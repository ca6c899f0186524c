"""The machine's own stalls: how long a fixed piece of pure-Python CPU work takes, p50 and p99.

Nothing of sessionflow runs in it: no I/O, no allocation to speak of, no other thread. Whatever
stretches its p99 beyond its p50 (the hypervisor taking the virtual CPUs away, other processes)
stretches every latency measured on the same machine alike, so the benchmarks report it beside
their own p99 (``bench/data_series.py``, per series, for work as long as the series' p50).

Run alone to see the machine's stall pattern:
    .venv/bin/python bench/machine.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.stats import percentile


def _spin(iterations: int) -> int:
    total = 0
    for i in range(iterations):
        total += i
    return total


def _iterations_for(work_ms: float) -> int:
    """Loop iterations that take ``work_ms`` on this machine (the median of a few ~5 ms
    probes)."""
    iterations = 10_000
    while True:
        began = time.perf_counter()
        _spin(iterations)
        if (time.perf_counter() - began) * 1000 >= 5:
            break
        iterations *= 2
    probes = []
    for _ in range(9):
        began = time.perf_counter()
        _spin(iterations)
        probes.append((time.perf_counter() - began) * 1000)
    return max(1, int(iterations * work_ms / percentile(probes, 50)))


def fixed_work(work_ms: float, samples: int, pause_s: float = 0.005) -> dict[str, float]:
    """p50 / p99 / max (ms) of ``samples`` runs of the same ``work_ms`` of CPU work, with
    ``pause_s`` between them (as between a benchmark's requests)."""
    iterations = _iterations_for(work_ms)
    times = []
    for _ in range(samples):
        began = time.perf_counter()
        _spin(iterations)
        times.append((time.perf_counter() - began) * 1000)
        time.sleep(pause_s)
    return {
        "work_ms": round(work_ms, 2),
        "p50_ms": round(percentile(times, 50), 2),
        "p99_ms": round(percentile(times, 99), 2),
        "max_ms": round(max(times), 2),
    }


def stall_pattern(seconds: float, chunk_ms: float = 0.2) -> dict[str, object]:
    """Back-to-back ``chunk_ms`` pieces of work for ``seconds``: the share of them that took
    over 5 times the median, and when (seconds from the start) the stalls began."""
    iterations = _iterations_for(chunk_ms)
    began = time.perf_counter()
    runs: list[tuple[float, float]] = []
    while (now := time.perf_counter()) - began < seconds:
        _spin(iterations)
        runs.append((now - began, (time.perf_counter() - now) * 1000))
    median = percentile((d for _, d in runs), 50)
    slow = [(at, d) for at, d in runs if d > 5 * median]
    starts: list[float] = []
    for at, _ in slow:
        if not starts or at - starts[-1] > 0.3:
            starts.append(round(at, 2))
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(starts)]
    return {
        "chunk_median_ms": round(median, 3),
        "slow_share": round(len(slow) / len(runs), 4),
        "slowest_ms": round(max(d for _, d in runs), 2),
        "stalls": len(starts),
        "median_gap_s": percentile(gaps, 50) if gaps else None,
        "stall_starts_s": starts[:40],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    result = {
        "stall_pattern": stall_pattern(args.seconds),
        "fixed_work": [fixed_work(ms, 300) for ms in (1.0, 5.0, 10.0, 15.0)],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
