"""A restarted worker resumes from its local tables (RocksDB files under ``state_dir``) and
replays only the changelog records written since it last ran, not the history (SPEC §5: a
worker restart resumes counting within 10 s whatever the history; ``bench/restart.py`` times
it behind 10 M records).

1,000 realistic sessions (60,000 records) are counted; the worker is killed -9 and started
again; a new session is posted. The restarted process must have restored fewer changelog
records than a tenth of the sessions (from memory it would replay at least one QoE state per
session and every window), count the new session, and leave every count exact.

The history's sessions are still open when the worker dies (their records carry one edge time)
and idle when the new session arrives (idle close shrunk to 5 s): a quiet spell. The new
session is counted after one slice of closes (``qoe_close_slice``, shrunk to 50), not after
all 1,000; further sessions close the rest, each summarised exactly once.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from sessionflow.clickhouse import ClickHouse
from tests.backlog import write_backlog
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body
from tests.e2e.test_operations import scrape, total

SETTINGS = {"qoe_idle_close_ms": 5000, "qoe_close_slice": 50}
SESSIONS = 1000
RESTORED = "sessionflow_worker_changelog_records_restored_total"


def wait_until(check, timeout: float, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        pipeline.check_alive()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_a_restarted_worker_does_not_replay_its_history(pipeline: Pipeline):
    edge_time_ms = int(time.time() * 1000)

    def at_one_edge_time(index: int, record: dict) -> dict:
        return {**record, "received_ms": edge_time_ms}

    backlog = asyncio.run(
        write_backlog(
            pipeline.settings, ORG, ("restart-history",), SESSIONS, mutate=at_one_edge_time
        )
    )
    worker = pipeline.ops_urls["worker"]

    def counted_history() -> bool:
        samples = scrape(worker)
        return total(samples, "sessionflow_records_counted_total") >= SESSIONS and not total(
            samples, "sessionflow_consumer_lag"
        )

    wait_until(counted_history, 300, pipeline)
    time.sleep(2)  # a commit and a flush past the last record

    pipeline.stop("worker", signal.SIGKILL)
    pipeline.start("worker")
    pipeline.wait_http(worker + "/ready", timeout=120)
    now_ms = int(time.time() * 1000)
    answer = httpx.post(pipeline.edge_url + "/api/v1/sessions", json=body("after-restart", now_ms))
    assert answer.status_code == 201

    key = pipeline.create_key("--org", ORG)

    def sessions(app_id: str) -> int:
        answer = httpx.get(
            pipeline.api_url + "/sessions/data_series",
            params={"unit": "day", "length": 2, "app_id": app_id},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200, answer.text
        return sum(item["sessions"] for item in answer.json()["data"])

    wait_until(lambda: sessions("after-restart") == 1, 60, pipeline)
    samples = scrape(worker)
    restored = total(samples, RESTORED)
    assert restored < SESSIONS / 10, f"the restarted worker replayed {restored} changelog records"
    closed = total(samples, "sessionflow_qoe_sessions_closed_total")
    assert closed <= SETTINGS["qoe_close_slice"], f"{closed} closed before the new session"
    assert sessions("restart-history") == SESSIONS

    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    summaries: dict[str, int] = {}

    def all_summarised() -> bool:
        httpx.post(pipeline.edge_url + "/api/v1/sessions", json=body("tick", now_ms))
        summaries.clear()
        summaries.update(
            clickhouse.execute(
                f"SELECT session_id, count() FROM {clickhouse.database}.session_summaries "
                "WHERE app_id = 'restart-history' GROUP BY session_id"
            )
        )
        return len(summaries) == SESSIONS

    try:
        wait_until(all_summarised, 120, pipeline)
    finally:
        clickhouse.close()
    assert set(summaries) == {sid for sid, _, _ in backlog.sessions}
    doubled = [sid for sid, n in summaries.items() if n > 1]
    assert not doubled, f"{len(doubled)} sessions summarised twice"
