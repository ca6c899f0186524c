"""Worker restart benchmark: how long after a kill -9 and a restart the worker counts a new
session, behind a history of N records (realistic 60-record sessions written straight to Kafka,
``tests/backlog.py``).

1. the four processes start; N records of history go to media-events; the worker counts them
   (its consumer lag reaches 0, read from its /metrics);
2. the worker is killed -9 and started again at once; a new sessionStart is posted through the
   edge every 250 ms; the figure is the time from the restart to the first of them appearing
   in data_series, when the worker's /ready turned 200, and how many changelog records the
   restarted worker replayed into its tables (``SESSIONFLOW_WORKER_STORE=memory`` to compare
   with tables rebuilt from their whole changelogs).

Needs scripts/services up. Run:
    .venv/bin/python bench/restart.py [--records 1000000] [--out restart.json]
Writes bench/results/<out>.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.backlog import write_backlog  # noqa: E402
from tests.e2e.pipeline import launch  # noqa: E402
from tests.e2e.sessions import ORG, body  # noqa: E402
from tests.e2e.test_operations import scrape, total  # noqa: E402
from tests.services import unique_settings  # noqa: E402

HERE = ROOT / "bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--out", default="restart.json")
    args = parser.parse_args()
    settings = unique_settings()
    logs = HERE / "results" / "logs" / "restart"
    logs.mkdir(parents=True, exist_ok=True)
    pipeline = launch(settings, logs)
    result: dict[str, object] = {"records": args.records}
    try:
        started = time.monotonic()
        sessions = args.records // 60
        backlog = asyncio.run(write_backlog(settings, ORG, ("hist-a", "hist-b"), sessions))
        result["history_records"] = backlog.records
        result["write_seconds"] = round(time.monotonic() - started, 1)
        worker_url = pipeline.ops_urls["worker"]
        while True:  # the worker has counted the history
            samples = scrape(worker_url)
            if total(samples, "sessionflow_records_counted_total") >= sessions and not total(
                samples, "sessionflow_consumer_lag"
            ):
                break
            time.sleep(1)
        result["history_counted_seconds"] = round(time.monotonic() - started, 1)
        key = pipeline.create_key("--org", ORG)
        params = {"unit": "day", "length": 2, "app_id": "after-restart"}

        def counted() -> int:
            answer = httpx.get(
                pipeline.api_url + "/sessions/data_series", params=params,
                headers={"Authorization": f"Bearer {key}"},
            ).json()  # fmt: skip
            return sum(item["sessions"] for item in answer["data"])

        pipeline.stop("worker", signal.SIGKILL)
        restarted = time.monotonic()
        pipeline.start("worker")
        ready_after = None
        with httpx.Client(base_url=pipeline.edge_url) as client:
            while True:
                now_ms = int(time.time() * 1000)
                assert (
                    client.post("/api/v1/sessions", json=body("after-restart", now_ms)).status_code
                    == 201
                )
                if ready_after is None:
                    try:
                        if httpx.get(worker_url + "/ready").status_code == 200:
                            ready_after = time.monotonic() - restarted
                    except httpx.HTTPError:
                        pass
                if counted() > 0:
                    break
                time.sleep(0.25)
        result["restart_to_first_new_session_counted_s"] = round(time.monotonic() - restarted, 1)
        result["restart_to_ready_s"] = round(ready_after, 1) if ready_after else None
        result["changelog_records_restored"] = total(
            scrape(worker_url), "sessionflow_worker_changelog_records_restored_total"
        )
    finally:
        pipeline.stop_all()
    out = HERE / "results" / args.out
    out.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
