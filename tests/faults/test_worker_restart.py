"""A restarted worker resumes from its local tables (RocksDB files under ``state_dir``) and
replays only the changelog records written since it last ran, not the history (SPEC §5: a
worker restart resumes counting within 10 s whatever the history; ``bench/restart.py`` times
it behind 10 M records).

1,000 realistic sessions (60,000 records) are counted; the worker is killed -9 and started
again; a new session is posted. The restarted process must have restored fewer changelog
records than a tenth of the sessions (from memory it would replay at least one QoE state per
session and every window), count the new session, and leave every count exact.
"""

from __future__ import annotations

import asyncio
import signal
import time

import httpx

from tests.backlog import write_backlog
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body
from tests.e2e.test_operations import scrape, total

SESSIONS = 1000
RESTORED = "sessionflow_worker_changelog_records_restored_total"


def wait_until(check, timeout: float, pipeline: Pipeline) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        pipeline.check_alive()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.5)


def test_a_restarted_worker_does_not_replay_its_history(pipeline: Pipeline):
    asyncio.run(write_backlog(pipeline.settings, ORG, ("restart-history",), SESSIONS))
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
    restored = total(scrape(worker), RESTORED)
    assert restored < SESSIONS / 10, f"the restarted worker replayed {restored} changelog records"
    assert sessions("restart-history") == SESSIONS
