"""Real player traffic through the whole pipeline (SPEC §2 "Real players"), with the publish
timeout shrunk to 300 ms so that every session lasts many times longer than it:

- simulated players (``sessionflow.players``, time compressed) send ~60-request sessions with
  bursts after the 201, pauses with pings, ad pods with 1 s pings and seeks, concurrently;
- Adobe-guide-style JavaScript in a real headless Chromium (``examples/player``), served from
  another origin than the edge, plays a clip generated in the page.

Every request must succeed, and the sessions and their events must be counted exactly.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from sessionflow import players
from sessionflow.clickhouse import ClickHouse
from tests.e2e.browser import chromium, static_site
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, poll_total

SETTINGS = {"kafka_publish_timeout_ms": 300}
PLAYER_PAGE = Path(__file__).resolve().parents[2] / "examples" / "player"
COMPRESSION = 60  # a 10-minute session plays in ~10 s


def play_session(edge_url: str, app: str, seed: int, statuses: Counter[int], sent: Counter[str]):
    rng = random.Random(seed)
    start_ms = int(time.time() * 1000)
    steps = players.compress(
        players.realistic_session(
            start_ms, rng=rng, complete_as=rng.choice(("sessionComplete", "contentComplete"))
        ),
        COMPRESSION,
    )
    with httpx.Client(base_url=edge_url, timeout=10) as client:
        created = client.post("/api/v1/sessions", json=players.session_start(ORG, app, start_ms))
        statuses[created.status_code] += 1
        if created.status_code != 201:
            return
        sent["sessionStart"] += 1
        events = created.headers["location"] + "/events"
        began = time.monotonic()
        for step in steps:
            time.sleep(max(0.0, began + step.at_ms / 1000 - time.monotonic()))
            response = client.post(events, json=step.body)
            statuses[response.status_code] += 1
            if response.status_code == 204:
                canonical = "sessionComplete" if step.event_type == "contentComplete" else None
                sent[canonical or step.event_type] += 1


def test_concurrent_real_player_sessions_are_accepted_and_counted(pipeline: Pipeline):
    app = "rsid-real-players"
    statuses: Counter[int] = Counter()
    sent: Counter[str] = Counter()
    threads = [
        threading.Thread(target=play_session, args=(pipeline.edge_url, app, i, statuses, sent))
        for i in range(12)
    ]
    for thread in threads:
        thread.start()
        time.sleep(0.3)  # staggered, as viewers arrive
    for thread in threads:
        thread.join()
    assert set(statuses) == {201, 204}, statuses
    assert statuses[201] == 12 and statuses[204] > 12 * 55

    key = pipeline.create_key("--org", ORG, "--app", app)
    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    url = pipeline.api_url + "/sessions/data_series"
    hours = {"length": 2, "unit": "hour", "ending_at": end}
    assert poll_total(url, key, hours, "sessions", 12) == 12

    events_url = pipeline.api_url + "/events/data_series"
    for event_type in ("ping", "play", "adStart", "sessionComplete"):
        params = {"event": event_type, "length": 2, "ending_at": end}
        total = poll_total(events_url, key, params, "count", sent[event_type])
        assert total == sent[event_type], event_type

    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    try:
        (stored,) = clickhouse.execute(
            f"SELECT count(), uniqExact(source_partition, source_offset) "
            f"FROM {pipeline.settings.clickhouse_database}.events WHERE app_id = %(app)s",
            {"app": app},
        )
    finally:
        clickhouse.close()
    assert stored == (sum(sent.values()), sum(sent.values()))


def test_a_player_keeps_its_connection_between_pings(pipeline: Pipeline):
    """A real player pings every 10 s: its keep-alive connection must still be open for the
    next ping (uvicorn closes idle ones after 5 s unless told otherwise, and a viewer then
    pays a new TCP connection per ping, or loses the ping to the close race)."""
    url = httpx.URL(pipeline.edge_url)
    connection = http.client.HTTPConnection(url.host, url.port, timeout=10)
    try:
        start_ms = int(time.time() * 1000)
        body = json.dumps(players.session_start(ORG, "rsid-keep-alive", start_ms))
        connection.request(
            "POST", "/api/v1/sessions", body, headers={"Content-Type": "application/json"}
        )
        created = connection.getresponse()
        created.read()
        assert created.status == 201
        assert connection.sock is not None
        local = connection.sock.getsockname()
        time.sleep(10.5)  # one ping interval of a real player
        ping = {"eventType": "ping", "playerTime": {"playhead": 10, "ts": start_ms + 10_000}}
        connection.request(
            "POST",
            created.headers["location"] + "/events",
            json.dumps(ping),
            headers={"Content-Type": "application/json"},
        )
        answered = connection.getresponse()
        answered.read()
        assert answered.status == 204
        assert connection.sock.getsockname() == local  # the same TCP connection
    finally:
        connection.close()


def test_browser_player_on_another_origin(pipeline: Pipeline, tmp_path: Path):
    app = "rsid-browser"
    with static_site(PLAYER_PAGE) as site, chromium() as browser:
        page = browser.new_page()
        problems: list[str] = []
        page.on(
            "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        requests: list[tuple[str, str]] = []
        cdp.on(
            "Network.requestWillBeSent",
            lambda e: requests.append((e["request"]["method"], e["request"]["url"])),
        )
        query = f"edge={pipeline.edge_url}&org={ORG}&app={app}&ping=400&clip=3000&pause=1500"
        assert not site.endswith(pipeline.edge_url.rsplit(":", 1)[1])  # another origin
        page.goto(f"{site}/index.html?{query}")
        page.wait_for_function(
            "window.sessionflowDone === true || "
            "document.getElementById('state').textContent.startsWith('failed')",
            timeout=60_000,
        )
        assert page.inner_text("#state") == "done", page.inner_text("#log")
        log = page.evaluate("window.sessionflowLog")
        page.screenshot(path=str(tmp_path / "player.png"))
    assert problems == []
    assert log[0] == {"eventType": "sessionStart", "status": 201}
    assert all(entry["status"] == 204 for entry in log[1:]), log
    types = Counter(entry["eventType"] for entry in log)
    assert types["ping"] >= 4 and types["pauseStart"] >= 1 and types["sessionComplete"] == 1
    posts = [url for method, url in requests if method == "POST" and pipeline.edge_url in url]
    preflights = [url for method, url in requests if method == "OPTIONS"]
    assert len(posts) == len(log)
    # Preflights are cached (Access-Control-Max-Age): one per URL, plus one for a request that
    # went out while the first preflight of its URL was still in flight. Not one per ping (14
    # preflights for 27 POSTs before the header).
    assert len(posts) >= 15
    assert len(set(preflights)) == 2 and len(preflights) <= 3, preflights

    key = pipeline.create_key("--org", ORG, "--app", app)
    end = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    url = pipeline.api_url + "/sessions/data_series"
    assert poll_total(url, key, {"length": 2, "unit": "hour", "ending_at": end}, "sessions", 1) == 1
    events_url = pipeline.api_url + "/events/data_series"
    pings = {"event": "ping", "length": 2, "ending_at": end}
    assert poll_total(events_url, key, pings, "count", types["ping"]) == types["ping"]
