"""The whole sessions path on real processes, Kafka and ClickHouse: sessions posted to the edge
for two apps over several hours come back as exact hourly and daily series over HTTP."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta, timezone

import httpx

from sessionflow.clickhouse import ClickHouse
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body, brute_force, poll_series

APPS = ("rsid-alpha", "rsid-beta")


def test_two_apps_over_several_hours(pipeline: Pipeline):
    rng = random.Random(7)
    now = datetime.now(UTC)
    sent: dict[str, list[datetime]] = {app: [] for app in APPS}
    sids = []
    with httpx.Client(base_url=pipeline.edge_url) as client:
        for i in range(120):
            app = APPS[i % 2]
            at = now - timedelta(minutes=rng.randrange(0, 7 * 60))
            response = client.post("/api/v1/sessions", json=body(app, int(at.timestamp() * 1000)))
            assert response.status_code == 201, response.text
            sids.append(response.headers["location"].rsplit("/", 1)[1])
            sent[app].append(at)
    everything = sent[APPS[0]] + sent[APPS[1]]
    key = pipeline.create_key("--org", ORG)
    url = pipeline.api_url + "/sessions/data_series"
    end = now + timedelta(minutes=1)

    hourly = {"length": 10, "unit": "hour", "ending_at": end.isoformat()}
    want = brute_force(everything, end, "hour", 10)
    assert poll_series(url, key, hourly, want) == want
    answer = httpx.get(url, params=hourly, headers={"Authorization": f"Bearer {key}"}).json()
    assert answer["message"] == "success" and len(answer["data"]) == 10

    daily = {"length": 3, "ending_at": end.isoformat()}
    want = brute_force(everything, end, "day", 3)
    assert poll_series(url, key, daily, want) == want

    alpha = {**hourly, "app_id": APPS[0]}
    want = brute_force(sent[APPS[0]], end, "hour", 10)
    assert poll_series(url, key, alpha, want) == want

    for offset in (timedelta(hours=-5), timedelta(hours=5, minutes=30)):
        local_end = end.astimezone(timezone(offset))
        for unit in ("hour", "day"):
            params = {"length": 9, "unit": unit, "ending_at": local_end.isoformat()}
            want = brute_force(everything, local_end, unit, 9)
            assert poll_series(url, key, params, want) == want

    # The raw sessions land after the counts: the sink holds them for SINK_STORE_INTERVAL_MS.
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    deadline = time.monotonic() + 30
    try:
        while True:
            stored = clickhouse.execute(
                f"SELECT session_id FROM {pipeline.settings.clickhouse_database}.sessions"
            )
            if len(stored) >= len(sids) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        clickhouse.close()
    assert sorted(sid for (sid,) in stored) == sorted(sids)


def test_api_errors(pipeline: Pipeline):
    url = pipeline.api_url + "/sessions/data_series"
    missing = httpx.get(url, params={"length": 3})
    assert missing.status_code == 401 and missing.json()["errors"]
    assert "X-RateLimit-Limit" in missing.headers
    assert (
        httpx.get(url, params={"length": 3}, headers={"Authorization": "Bearer nope"}).status_code
        == 401
    )
    key = pipeline.create_key("--org", ORG, "--app", APPS[0])
    auth = {"Authorization": f"Bearer {key}"}
    bad = httpx.get(url, params={"length": 0, "unit": "week"}, headers=auth)
    assert bad.status_code == 400
    assert len(bad.json()["errors"]) == 2 and bad.json()["message"]
    assert httpx.get(url, params={"length": 3, "app_id": APPS[1]}, headers=auth).status_code == 403
    ok = httpx.get(url, params={"length": 3}, headers=auth)
    assert ok.status_code == 200 and int(ok.headers["X-RateLimit-Remaining"]) < 250_000
    no_perm = pipeline.create_key("--org", ORG, "--permission", "segments.write")
    assert (
        httpx.get(
            url, params={"length": 3}, headers={"Authorization": f"Bearer {no_perm}"}
        ).status_code
        == 403
    )
