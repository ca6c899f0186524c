"""Quality of experience end to end (SPEC §3): scripted sessions through the edge, the worker
killed -9 and restarted in the middle, and every figure of /kpi/qoe/data_series equal to what
the definitions give by hand. The idle close is shrunk to 3 s through settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from sessionflow.clickhouse import ClickHouse
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body

SETTINGS = {"qoe_idle_close_ms": 3000}
APP = "qoe-app"

# (event type, ms after the sessionStart's playerTime.ts)
SESSIONS = {
    # startup 2 s; playing 2→62, 72→102, 105→165 s = 150 s; buffering 102→105 s
    "complete": [("play", 2_000), ("ping", 12_000), ("pauseStart", 62_000), ("ping", 67_000),
                 ("play", 72_000), ("bufferStart", 102_000), ("play", 105_000),
                 ("sessionComplete", 165_000)],
    # never plays: exit before start; buffering 5→8 s
    "exit": [("ping", 4_000), ("bufferStart", 5_000), ("sessionEnd", 8_000)],
    # plays 1→21 s, then silence: closed by the idle rule at its last event
    "silent": [("play", 1_000), ("ping", 11_000), ("ping", 21_000)],
    # content 0.5→30.5 s, ad break 30.5→45.5 s (its play is the ad's), content 46→106 s
    "ads": [("play", 500), ("adBreakStart", 30_500), ("adStart", 30_500), ("play", 31_000),
            ("adComplete", 45_500), ("adBreakComplete", 45_500), ("play", 46_000),
            ("sessionEnd", 106_000)],
}  # fmt: skip
PLAYED_MS = 150_000 + 0 + 20_000 + 90_000
BUFFERING_MS = 3_000 + 3_000
EXPECTED = {
    "startup_time_ms": (2_000 + 1_000 + 500) / 3,
    "played_seconds": PLAYED_MS / 1000,
    "rebuffer_ratio": BUFFERING_MS / (BUFFERING_MS + PLAYED_MS),
    "completion_rate": 1 / 4,
    "exit_before_start_rate": 1 / 4,
}

# The sessions a segment on customMetadata.tier = gold selects: "complete" and "ads".
GOLD = ("complete", "ads")
GOLD_FILTER = {"field": "customMetadata.tier", "op": "eq", "value": "gold"}
EXPECTED_GOLD = {
    "startup_time_ms": (2_000 + 500) / 2,
    "played_seconds": (150_000 + 90_000) / 1000,
    "rebuffer_ratio": 3_000 / (3_000 + 150_000 + 90_000),
    "completion_rate": 1 / 2,
    "exit_before_start_rate": 0.0,
}


def event(event_type: str, ts_ms: int) -> dict:
    params = {}
    if event_type == "adBreakStart":
        params = {"media.ad.podIndex": 1, "media.ad.podSecond": 30.5}
    elif event_type == "adStart":
        params = {"media.ad.podPosition": 1, "media.ad.id": "ad-1", "media.ad.length": 15.0,
                  "media.ad.playerName": "p"}  # fmt: skip
    return {"eventType": event_type, "playerTime": {"playhead": 0, "ts": ts_ms}, "params": params}


def test_qoe_figures_match_the_definitions_across_a_worker_crash(pipeline: Pipeline):
    now = datetime.now(UTC)
    t0 = max(now - timedelta(minutes=5), now.replace(hour=0, minute=0, second=1, microsecond=0))
    t0_ms = int(t0.timestamp() * 1000)
    with httpx.Client(base_url=pipeline.edge_url, timeout=10) as client:
        urls = {}
        for name in SESSIONS:
            start = body(APP, t0_ms)
            if name in GOLD:
                start["customMetadata"] = {"tier": "gold"}
            created = client.post("/api/v1/sessions", json=start)
            assert created.status_code == 201
            urls[name] = created.headers["location"] + "/events"
        halfway = {name: len(events) // 2 for name, events in SESSIONS.items()}
        for name, events in SESSIONS.items():
            for event_type, at in events[: halfway[name]]:
                sent = client.post(urls[name], json=event(event_type, t0_ms + at))
                assert sent.status_code == 204, sent.text
        time.sleep(2)  # let the worker hold some open state, then crash it
        pipeline.kill("worker")
        for name, events in SESSIONS.items():
            for event_type, at in events[halfway[name] :]:
                sent = client.post(urls[name], json=event(event_type, t0_ms + at))
                assert sent.status_code == 204, sent.text
        # The silent session closes once its partition's stream time passes 3 s after its
        # last event: later records (other sessions) on every partition move it.
        time.sleep(3.5)
        for _ in range(40):
            assert (
                client.post("/api/v1/sessions", json=body("qoe-filler", t0_ms)).status_code == 201
            )

    key = pipeline.create_key("--org", ORG)
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    try:
        deadline = time.monotonic() + 120
        while True:
            rows = clickhouse.execute(
                f"SELECT closed_reason, count() FROM {clickhouse.database}.session_summaries "
                "WHERE org_id = %(org)s AND app_id = %(app)s GROUP BY closed_reason",
                {"org": ORG, "app": APP},
            )
            if sum(n for _, n in rows) >= 4 or time.monotonic() > deadline:
                break
            pipeline.check_alive()
            time.sleep(0.5)
    finally:
        clickhouse.close()
    assert dict(rows) == {"complete": 1, "end": 2, "timeout": 1}  # each once, none doubled

    ending_at = t0.replace(hour=23, minute=59, second=59).isoformat()
    for metric, want in EXPECTED.items():
        answer = httpx.get(
            pipeline.api_url + "/kpi/qoe/data_series",
            params={"metric": metric, "unit": "day", "length": 2, "app_id": APP,
                    "ending_at": ending_at},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert data[0]["value"] is None  # the day before: no closed session
        assert data[1]["value"] == pytest.approx(want, rel=1e-6), metric
    # A segment's figures: its filter over the sessions, usable at once (no backfill).
    put = httpx.put(
        pipeline.api_url + "/segments/gold", headers={"Authorization": f"Bearer {key}"},
        json={"name": "Gold", "app_id": APP, "filter": GOLD_FILTER}, timeout=60,
    )  # fmt: skip
    assert put.status_code in (201, 202), put.text
    for metric, want in EXPECTED_GOLD.items():
        answer = httpx.get(
            pipeline.api_url + "/kpi/qoe/data_series",
            params={"metric": metric, "unit": "day", "length": 1, "segment_id": "gold",
                    "ending_at": ending_at},
            headers={"Authorization": f"Bearer {key}"},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"][0]["value"] == pytest.approx(want, rel=1e-6), metric
    refused = httpx.get(
        pipeline.api_url + "/kpi/qoe/data_series", params={"metric": "mood", "length": 1},
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert refused.status_code == 400 and "metric" in refused.text
