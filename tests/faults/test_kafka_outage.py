"""Kafka stops: the edge answers 503 + Retry-After, never 201; once Kafka is back, 201 again, and
every 201 reaches ClickHouse and the series exactly once."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime, timedelta

import httpx

from sessionflow.clickhouse import ClickHouse
from tests.e2e.pipeline import Pipeline, services
from tests.e2e.sessions import ORG, body


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_broker_down_means_503_then_201_and_nothing_lost(pipeline: Pipeline):
    # Closed at the end: pooled sockets must not outlive this test (collected later, in another
    # test, they would fail it with a ResourceWarning).
    with httpx.Client(base_url=pipeline.edge_url, timeout=30) as client:
        now_ms = int(time.time() * 1000)
        created = []
        for _ in range(5):
            response = client.post("/api/v1/sessions", json=body("outage-app", now_ms))
            assert response.status_code == 201
            created.append(response.headers["location"][-64:])

        services("down", "kafka")
        kafka_port = int(pipeline.settings.kafka_bootstrap.rsplit(":", 1)[1])
        assert not port_open(kafka_port), "the broker is not one scripts/services started"
        refused = 0
        for _ in range(3):
            response = client.post("/api/v1/sessions", json=body("outage-app", now_ms))
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1 and "location" not in response.headers
            refused += 1

        services("up", "kafka")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            response = client.post("/api/v1/sessions", json=body("outage-app", now_ms))
            assert response.status_code in (201, 503)
            if response.status_code == 201:
                created.append(response.headers["location"][-64:])
                break
            time.sleep(float(response.headers["retry-after"]))
        else:
            raise AssertionError("the edge never recovered after Kafka came back")
        for _ in range(5):
            response = client.post("/api/v1/sessions", json=body("outage-app", now_ms))
            assert response.status_code == 201
            created.append(response.headers["location"][-64:])
    pipeline.revive()

    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    db = pipeline.settings.clickhouse_database
    key = pipeline.create_key("--org", ORG)
    end = datetime.now(UTC) + timedelta(minutes=1)
    stored: list[str] = []
    total = -1
    try:
        while time.monotonic() < deadline + 60:
            pipeline.revive()
            stored = [sid for (sid,) in clickhouse.execute(f"SELECT session_id FROM {db}.sessions")]
            series = httpx.get(
                pipeline.api_url + "/sessions/data_series",
                params={"length": 2, "unit": "day", "ending_at": end.isoformat()},
                headers={"Authorization": f"Bearer {key}"},
            ).json()["data"]
            total = sum(item["sessions"] for item in series)
            if sorted(stored) == sorted(created) and total == len(created):
                break
            time.sleep(0.5)
    finally:
        clickhouse.close()
    assert sorted(stored) == sorted(created), "every 201 is stored, once; no 503 is"
    assert total == len(created)
    assert refused == 3
