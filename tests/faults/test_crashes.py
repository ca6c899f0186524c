"""The fault suite: sessions keep coming while the worker and the sink are killed with SIGKILL and
Kafka and ClickHouse are restarted, and segments are defined on the way. After draining, every
hourly and daily bucket (overall, per app, per segment) equals the number of 201s for it, and
the sessions table holds each 201 exactly once."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseUnavailable
from tests.e2e.pipeline import Pipeline, services
from tests.e2e.sessions import ORG, body, brute_force

APPS = ("fault-a", "fault-b")


@dataclass
class Phase:
    name: str
    sent: int = 0
    created: int = 0
    refused: int = 0
    other: int = 0


@dataclass
class Load:
    """Posts sessions from a thread until stopped, recording every answer by phase."""

    url: str
    phases: list[Phase] = field(default_factory=lambda: [Phase("warm-up")])
    created: list[tuple[str, str, datetime]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        rng = random.Random(11)
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                phase = self.phases[-1]
                app = rng.choice(APPS)
                at = datetime.now(UTC) - timedelta(minutes=rng.randrange(0, 180))
                phase.sent += 1
                try:
                    response = client.post(
                        "/api/v1/sessions", json=body(app, int(at.timestamp() * 1000))
                    )
                except httpx.HTTPError:
                    phase.other += 1
                    time.sleep(0.2)
                    continue
                if response.status_code == 201:
                    phase.created += 1
                    self.created.append((response.headers["location"][-64:], app, at))
                elif response.status_code == 503:
                    phase.refused += 1
                    time.sleep(0.2)
                else:
                    phase.other += 1
                time.sleep(0.005)


def fault(load: Load, pipeline: Pipeline, name: str, action: Callable[[], None]) -> None:
    load.phases.append(Phase(name))
    action()
    time.sleep(4)
    pipeline.revive()


def restart(which: str) -> Callable[[], None]:
    def action() -> None:
        services("down", which)
        time.sleep(1)
        services("up", which)

    return action


def define_app_segment(pipeline: Pipeline, key: str, app: str) -> None:
    """A segment of the sessions of ``app`` (by a param filter, not by the segment's app)."""
    response = httpx.put(
        f"{pipeline.api_url}/segments/{app}",
        json={"name": app, "filter": {"field": "params.analytics.reportSuite", "op": "eq",
                                      "value": app}},
        headers={"Authorization": f"Bearer {key}"}, timeout=60,
    )  # fmt: skip
    assert response.status_code in (201, 202), response.text


def test_counts_stay_exact_through_crashes_and_restarts(pipeline: Pipeline, tmp_path: Path):
    key = pipeline.create_key("--org", ORG)
    load = Load(pipeline.edge_url)
    poster = threading.Thread(target=load.run, daemon=True)
    poster.start()
    try:
        time.sleep(2)
        # Segments defined while sessions flow: one in the warm-up, one while the worker is
        # dead (it meets the markers on its restart).
        define_app_segment(pipeline, key, APPS[0])
        time.sleep(2)
        fault(
            load, pipeline, "kill -9 worker",
            lambda: (pipeline.kill("worker"), define_app_segment(pipeline, key, APPS[1])),
        )  # fmt: skip
        fault(load, pipeline, "kill -9 sink", lambda: pipeline.kill("sink"))
        fault(load, pipeline, "restart kafka", restart("kafka"))
        fault(load, pipeline, "restart clickhouse", restart("clickhouse"))
        fault(
            load,
            pipeline,
            "kill -9 worker and sink",
            lambda: (pipeline.kill("worker"), pipeline.kill("sink")),
        )
        load.phases.append(Phase("cool-down"))
        time.sleep(3)
    finally:
        load.stop.set()
        poster.join()

    sids = [sid for sid, _, _ in load.created]
    times = [at for _, _, at in load.created]
    end = datetime.now(UTC) + timedelta(minutes=1)
    queries = [
        (
            {"length": 5, "unit": "hour", "ending_at": end.isoformat()},
            brute_force(times, end, "hour", 5),
        ),
        (
            {"length": 2, "unit": "day", "ending_at": end.isoformat()},
            brute_force(times, end, "day", 2),
        ),
    ]
    for app in APPS:
        app_times = [at for _, a, at in load.created if a == app]
        queries.append(
            ({"length": 5, "unit": "hour", "ending_at": end.isoformat(), "app_id": app},
             brute_force(app_times, end, "hour", 5))
        )  # fmt: skip
        queries.append(
            ({"length": 2, "unit": "day", "ending_at": end.isoformat(), "segment_id": app},
             brute_force(app_times, end, "day", 2))
        )  # fmt: skip
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    db = pipeline.settings.clickhouse_database
    answers: list[list[dict]] = []
    stored: list[str] = []
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            pipeline.revive()
            try:
                stored = [s for (s,) in clickhouse.execute(f"SELECT session_id FROM {db}.sessions")]
            except ClickHouseUnavailable:
                time.sleep(1)
                continue
            answers = []
            for params, _ in queries:
                response = httpx.get(
                    pipeline.api_url + "/sessions/data_series",
                    params=params,
                    headers={"Authorization": f"Bearer {key}"},
                )
                answers.append(
                    response.json().get("data", []) if response.status_code == 200 else []
                )
            if sorted(stored) == sorted(sids) and answers == [want for _, want in queries]:
                break
            time.sleep(1)
    finally:
        clickhouse.close()

    report = {
        "phases": [vars(p) for p in load.phases],
        "sessions_201": len(sids),
        "stored": len(stored),
        "counted_days": sum(item["sessions"] for item in answers[1]) if len(answers) > 1 else None,
        "restarts": pipeline.restarts,
    }
    out = Path(os.environ.get("SESSIONFLOW_FAULT_REPORT", tmp_path / "fault-report.json"))
    out.write_text(json.dumps(report, indent=2))

    duplicates = [sid for sid, n in Counter(stored).items() if n > 1]
    assert not duplicates, f"{len(duplicates)} sessions stored twice"
    assert set(stored) == set(sids), (
        f"missing {len(set(sids) - set(stored))}, unexpected {len(set(stored) - set(sids))}"
    )
    for (params, want), got in zip(queries, answers, strict=True):
        assert got == want, f"{params}: got {got}, want {want}"
    assert len(sids) > 100 and sum(p.refused for p in load.phases) > 0
