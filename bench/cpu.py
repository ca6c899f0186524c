"""Where the machine's CPU went during a benchmark phase: each process's share, from
``/proc/<pid>/stat`` (user + system time) before and after, and the whole machine's busy time
from ``/proc/stat`` (the rest is the load generator and everything else on the machine).

Used by ``bench/capacity.py`` and ``bench/pipeline.py``: ``shares = CpuShares(pids)`` before
the phase, ``shares.done()`` after it, ``{name: percent of one core, ..., "machine": ...}``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time

TICKS = os.sysconf("SC_CLK_TCK")


def services_pids() -> dict[str, int]:
    """The local Kafka broker's and ClickHouse server's pids (``scripts/services``), if running."""
    found = {}
    for name, pattern in (("kafka", "kafka.Kafka"), ("clickhouse", "clickhouse-server")):
        out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
        if out.split():
            found[name] = int(out.split()[0])
    return found


def renice(pid: int, value: int) -> None:
    """Set the nice value of every thread of ``pid`` (Linux's setpriority on a pid changes that
    one thread: the threads a process already started keep theirs)."""
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):  # the thread ended meanwhile
            os.setpriority(os.PRIO_PROCESS, int(task), value)


def process_ticks(pid: int) -> int:
    """User + system clock ticks of ``pid`` so far (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core so far."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


class CpuShares:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.began = time.monotonic()
        self.before = {name: process_ticks(pid) for name, pid in pids.items()}
        self.machine_before = machine_ticks()

    def done(self) -> dict[str, float]:
        """Percent of one core each process used since the start (the machine: of all its
        cores together, 100 x ``cores`` when fully busy)."""
        seconds = time.monotonic() - self.began
        shares = {
            name: round(100 * (process_ticks(pid) - self.before[name]) / TICKS / seconds, 1)
            for name, pid in self.pids.items()
        }
        busy, total = machine_ticks()
        cores = os.cpu_count() or 1
        busy_share = (busy - self.machine_before[0]) / max(1, total - self.machine_before[1])
        shares["machine"] = round(100 * cores * busy_share, 1)
        shares["others"] = round(
            shares["machine"] - sum(v for k, v in shares.items() if k != "machine"), 1
        )
        return shares
