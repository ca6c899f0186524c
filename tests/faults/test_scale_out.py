"""Scale-out (SPEC §5): two edge processes on one port, two workers and two sinks in their
consumer groups, simulated players (``sessionflow loadgen``, realistic and start-only) — then
one worker and one sink killed -9 mid-load and never restarted. After the groups rebalance, every
hourly bucket equals the number of 201s, and every session is stored exactly once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sessionflow.clickhouse import ClickHouse
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, poll_total
from tests.e2e.test_operations import scrape, total


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and "spawn_main" in (stat.parent / "cmdline").read_text():
            found.append(int(stat.parent.name))
    return found


def wait_ready(url: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/ready").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{url} not ready"
        time.sleep(0.3)


def loadgen(pipeline: Pipeline, out: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sessionflow_cli", "loadgen", "--edge", pipeline.edge_url,
         "--org", ORG, "--apps", "3", "--json", str(out), *args],
        env=pipeline.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def test_two_of_each_stay_exact_when_a_worker_and_a_sink_are_killed(
    pipeline: Pipeline, tmp_path: Path
):
    pipeline.stop("edge")
    pipeline.start("edge", ["edge", "--processes", "2"])
    urls = dict(pipeline.ops_urls)
    for name, command in (("worker-b", "worker"), ("sink-b", "sink")):
        urls[name] = pipeline.start_another(name, command)
    for url in urls.values():
        wait_ready(url)
    assert len(children_of(pipeline.children["edge"].pid)) == 2

    realistic = loadgen(pipeline, tmp_path / "realistic.json", "--players", "30",
                        "--seconds", "30", "--compress", "60", "--ramp", "3")  # fmt: skip
    burst = loadgen(pipeline, tmp_path / "burst.json", "--players", "4", "--seconds", "30",
                    "--start-only")  # fmt: skip
    time.sleep(10)
    pipeline.stop("worker-b", signal.SIGKILL)
    time.sleep(5)
    pipeline.stop("sink-b", signal.SIGKILL)
    assert realistic.wait(timeout=120) == 0 and burst.wait(timeout=120) == 0
    summaries = [json.loads((tmp_path / f).read_text()) for f in ("realistic.json", "burst.json")]
    for summary in summaries:
        assert set(summary["statuses"]) <= {"201", "204"} and not summary["connection_errors"]
    created = sum(summary["sessions_started"] for summary in summaries)
    events = summaries[0]["statuses"].get("204", 0)
    assert created > 100 and events > 1000

    key = pipeline.create_key("--org", ORG)
    series = pipeline.api_url + "/sessions/data_series"
    got = poll_total(series, key, {"unit": "hour", "length": 2}, "sessions", created, timeout=180)
    assert got == created
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    try:
        deadline = time.monotonic() + 60
        while True:
            ((rows, distinct),) = clickhouse.execute(
                f"SELECT count(), uniqExact(session_id) FROM {clickhouse.database}.sessions "
                "WHERE org_id = %(org)s",
                {"org": ORG},
            )
            if rows == created or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        clickhouse.close()
    assert (rows, distinct) == (created, created)
    # Both edge processes' requests add up in one /metrics (multiprocess mode).
    edge = scrape(pipeline.edge_url)
    assert total(edge, "sessionflow_http_requests_total", route="/api/v1/sessions",
                 status="201") == created  # fmt: skip
    report = {"sessions": created, "events": events, "loadgen": summaries}
    sys.stdout.write(json.dumps(report, indent=1) + "\n")
    pipeline.check_alive()
