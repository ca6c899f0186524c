"""The sibling series: media events by type, and distinct visitors per day (by
marketingCloudUserId, else visitorId), both through the real pipeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body, poll_series

APP = "rsid-siblings"


def test_events_and_dau_series(pipeline: Pipeline):
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    visitors = ["mc-1", "mc-1", "mc-2", None, None]  # None: analytics.visitorId "v-3"
    with httpx.Client(base_url=pipeline.edge_url) as client:
        for mc in visitors:
            start = body(APP, now_ms)
            start["params"]["analytics.visitorId"] = "v-3"
            if mc:
                start["params"]["visitor.marketingCloudUserId"] = mc
            response = client.post("/api/v1/sessions", json=start)
            assert response.status_code == 201
            sid = response.headers["location"][-64:]
            for _ in range(2):
                play = {"eventType": "play", "playerTime": {"playhead": 1, "ts": now_ms}}
                assert client.post(f"/api/v1/sessions/{sid}/events", json=play).status_code == 204
    key = pipeline.create_key("--org", ORG, "--app", APP)
    end = (now + timedelta(minutes=1)).isoformat()
    events_url = pipeline.api_url + "/events/data_series"
    today = now.date().isoformat()
    yesterday = (now - timedelta(days=1)).date().isoformat()
    got = poll_series(events_url, key, {"event": "play", "length": 2, "ending_at": end},
                      [{"time": yesterday, "count": 0}, {"time": today, "count": 10}])  # fmt: skip
    assert got == [{"time": yesterday, "count": 0}, {"time": today, "count": 10}]
    starts = poll_series(events_url, key, {"event": "sessionStart", "length": 1, "ending_at": end},
                         [{"time": today, "count": 5}])  # fmt: skip
    assert starts == [{"time": today, "count": 5}]
    dau_url = pipeline.api_url + "/kpi/dau/data_series"
    dau = poll_series(dau_url, key, {"length": 1, "ending_at": end}, [{"time": today, "dau": 3}])
    assert dau == [{"time": today, "dau": 3}]
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(events_url, params={"length": 1}, headers=auth).status_code == 400
    assert httpx.get(dau_url, params={"length": 1, "unit": "hour"}, headers=auth).status_code == 400
