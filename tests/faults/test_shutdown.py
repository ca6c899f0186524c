"""SIGTERM stops every process gracefully (exit 0): the edge answers what it accepted, the
sink and the worker commit what they finished; nothing that got a 201 is lost."""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body, poll_series


def test_sigterm_is_graceful_and_loses_nothing(pipeline: Pipeline):
    created: list[str] = []
    stop = threading.Event()

    def post() -> None:
        with httpx.Client(base_url=pipeline.edge_url, timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.post(
                        "/api/v1/sessions", json=body("shutdown-app", int(time.time() * 1000))
                    )
                except httpx.HTTPError:
                    time.sleep(0.1)
                    continue
                if response.status_code == 201:
                    created.append(response.headers["location"][-64:])

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    time.sleep(2)
    codes = {name: pipeline.stop(name, signal.SIGTERM) for name in ("sink", "worker", "edge")}
    stop.set()
    poster.join()
    codes["api"] = pipeline.stop("api", signal.SIGTERM)
    assert codes == {"sink": 0, "worker": 0, "edge": 0, "api": 0}

    for name in ("sink", "worker", "edge", "api"):
        pipeline.start(name)
    pipeline.wait_http(pipeline.api_url + "/health")
    key = pipeline.create_key("--org", ORG, "--app", "shutdown-app")
    end = datetime.now(UTC) + timedelta(minutes=1)
    want = [{"time": end.date().isoformat(), "sessions": len(created)}]
    params = {"length": 1, "app_id": "shutdown-app", "ending_at": end.isoformat()}
    assert created
    assert poll_series(pipeline.api_url + "/sessions/data_series", key, params, want) == want
