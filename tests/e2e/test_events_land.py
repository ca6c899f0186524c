"""Media events of a session land in ClickHouse ``events`` once each, with typed columns, and
the session's row records its session time and where that time came from."""

from __future__ import annotations

import time

import httpx

from sessionflow.clickhouse import ClickHouse
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import body


def test_events_land_typed_and_once(pipeline: Pipeline):
    now_ms = int(time.time() * 1000)
    with httpx.Client(base_url=pipeline.edge_url) as client:
        start = client.post("/api/v1/sessions", json=body("events-app", 1_000))  # player clock off
        assert start.status_code == 201
        sid = start.headers["location"][-64:]
        events = [
            {"eventType": "play", "playerTime": {"playhead": 0, "ts": now_ms}},
            {"eventType": "adStart", "playerTime": {"playhead": 5, "ts": now_ms},
             "params": {"media.ad.podPosition": 1, "media.ad.id": "ad-7",
                        "media.ad.length": 15.5, "media.ad.playerName": "p"}},
            {"eventType": "error", "playerTime": {"playhead": 6, "ts": now_ms},
             "params": {"media.errorId": "E-42"}},
            {"eventType": "ping", "playerTime": {"playhead": 10, "ts": now_ms},
             "qoeData": {"media.qoe.droppedFrames": 3}},
        ]  # fmt: skip
        for event in events:
            response = client.post(f"/api/v1/sessions/{sid}/events", json=event)
            assert response.status_code == 204, response.text
    db = pipeline.settings.clickhouse_database
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    rows: list = []
    session: list = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = clickhouse.execute(
                f"SELECT event_type, ad_id, ad_length, error_id, dropped_frames "
                f"FROM {db}.events WHERE session_id = %(sid)s ORDER BY source_offset",
                {"sid": sid},
            )
            # The sink writes a batch's session rows after its events.
            session = clickhouse.execute(
                f"SELECT session_time_source, session_time_ms = received_ms FROM {db}.sessions "
                "WHERE session_id = %(sid)s",
                {"sid": sid},
            )
            if len(rows) == 5 and session:
                break
            time.sleep(0.5)
    finally:
        clickhouse.close()
    assert rows == [
        ("sessionStart", None, None, None, None),
        ("play", None, None, None, None),
        ("adStart", "ad-7", 15.5, None, None),
        ("error", None, None, "E-42", None),
        ("ping", None, None, None, 3),
    ]
    assert session == [("edge", 1)]
