"""The edge's HTTP behaviour with an in-memory publisher (no network); Kafka itself is
exercised in tests/integration and tests/e2e."""

from __future__ import annotations

import httpx
import orjson
import pytest

from producers.app import Edge, create_app, start_session
from producers.contract import EVENT_TYPES, REQUIRED_PARAMS
from schemas import codec
from sessionflow import sessionids
from sessionflow.errors import KafkaUnavailable
from sessionflow.http import Incoming
from sessionflow.settings import Settings

NOW = 1_731_672_000_000
SETTINGS = Settings(session_secrets=("k1",), max_body_bytes=2048)


class MemoryPublisher:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes | None, int | None]] = []
        self.down = False

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(
        self, topic, value, key=None, timestamp_ms=None, deadline_ms=None, accept_until_ms=None,
        urgent=False,
    ):  # fmt: skip
        if self.down:
            raise KafkaUnavailable("down", retry_after=3)
        self.records.append((topic, value, key, timestamp_ms))
        return 0, len(self.records) - 1


@pytest.fixture
def publisher():
    return MemoryPublisher()


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
async def client(publisher):
    app = create_app(SETTINGS, publisher, clock=lambda: NOW)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as test_client:
        yield test_client


def start(ts=NOW - 60_000, **extra):
    return {
        "eventType": "sessionStart",
        "playerTime": {"playhead": 0, "ts": ts},
        "params": {
            "analytics.trackingServer": "t", "analytics.reportSuite": "app-1",
            "visitor.marketingCloudOrgId": "org-1", "media.id": "m", "media.playerName": "p",
            "media.channel": "c", "media.contentType": "VOD", "media.length": 10,
        },
        **extra,
    }  # fmt: skip


MINIMAL_PARAMS = {
    "sessionStart": start()["params"],
    "adBreakStart": {"media.ad.podIndex": 0, "media.ad.podSecond": 0.0},
    "adStart": {"media.ad.podPosition": 1, "media.ad.id": "ad", "media.ad.length": 15,
                "media.ad.playerName": "p"},
    "chapterStart": {"media.chapter.index": 1, "media.chapter.offset": 0,
                     "media.chapter.length": 300.5},
    "stateStart": {"media.state.name": "fullscreen"},
    "stateEnd": {"media.state.name": "fullscreen"},
}  # fmt: skip


def minimal_event(event_type: str) -> dict:
    body: dict = {"eventType": event_type, "playerTime": {"playhead": 3.5, "ts": NOW}}
    if event_type in MINIMAL_PARAMS:
        body["params"] = dict(MINIMAL_PARAMS[event_type])
    if event_type == "error":
        body["qoeData"] = {"media.qoe.errorID": "E1", "media.qoe.errorSource": "player"}
    return body


CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "OPTIONS,POST,PUT",
    "access-control-allow-headers": "Content-Type",
    "access-control-expose-headers": "Location",
}


def assert_cors(response):
    for name, value in CORS.items():
        assert response.headers[name] == value


async def test_session_start_publishes_then_answers_201(client, publisher):
    response = await client.post("/api/v1/sessions", json=start())
    assert response.status_code == 201 and response.content == b""
    assert_cors(response)
    sid = response.headers["location"].removeprefix("/api/v1/sessions/")
    assert sessionids.verify(sid, ["k1"], NOW, 86_400_000) == NOW
    [(topic, value, key, ts)] = publisher.records
    assert topic == "sessionflow.media-events" and key == sid.encode()
    record = codec.media_events().decode(value)
    assert record["session_id"] == sid and record["org_id"] == "org-1"
    assert record["app_id"] == "app-1" and record["session_time_source"] == "player"
    assert ts == record["session_time_ms"] == NOW - 60_000


async def test_player_clock_out_of_range_uses_edge_time(client, publisher):
    assert (await client.post("/api/v1/sessions", json=start(ts=1))).status_code == 201
    record = codec.media_events().decode(publisher.records[0][1])
    assert (record["session_time_ms"], record["session_time_source"]) == (NOW, "edge")


async def test_invalid_body_is_400_naming_problems_and_publishes_nothing(client, publisher):
    body = start()
    del body["params"]["media.id"]
    response = await client.post("/api/v1/sessions", json=body)
    assert response.status_code == 400
    assert_cors(response)
    assert response.json()["errors"] == [{"path": "/params/media.id", "error": "is required"}]
    assert publisher.records == []


async def test_kafka_down_is_503_with_retry_after(client, publisher):
    publisher.down = True
    response = await client.post("/api/v1/sessions", json=start())
    assert response.status_code == 503 and response.headers["retry-after"] == "3"
    assert_cors(response)
    assert "location" not in response.headers


async def test_malformed_json_and_media_type(client):
    response = await client.post(
        "/api/v1/sessions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400 and response.json()["message"] == "malformed JSON"
    response = await client.post(
        "/api/v1/sessions", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


async def test_body_over_limit_is_413(client):
    response = await client.post(
        "/api/v1/sessions", content=b" " * 4096, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_options_preflight(client):
    response = await client.options("/api/v1/sessions")
    assert response.status_code == 204
    assert_cors(response)


async def test_schema_endpoint(client):
    response = await client.get("/api/v1/schemas/sessionStart")
    assert response.status_code == 200
    assert "media.length" in response.json()["properties"]["params"]["required"]
    assert (await client.get("/api/v1/schemas/nope")).status_code == 404


async def test_events_on_unknown_and_expired_sessions(client):
    ping = {"eventType": "ping", "playerTime": {"playhead": 1, "ts": NOW}}
    assert (await client.post(f"/api/v1/sessions/{'0' * 64}/events", json=ping)).status_code == 404
    old = sessionids.mint("k1", NOW - 86_400_001)
    assert (await client.post(f"/api/v1/sessions/{old}/events", json=ping)).status_code == 410
    good = sessionids.mint("k1", NOW - 1000)
    assert (await client.post(f"/api/v1/sessions/{good}/events", json=ping)).status_code == 204


async def test_downloaded_session_is_one_201_with_start_published_last(client, publisher):
    start_body = start()
    start_body["params"]["media.downloaded"] = True
    play = {"eventType": "play", "playerTime": {"playhead": 1, "ts": NOW}}
    response = await client.post("/api/v1/downloaded", json=[start_body, play, play])
    assert response.status_code == 201
    sid = response.headers["location"].rsplit("/", 1)[1]
    decoded = [codec.media_events().decode(value) for _, value, _, _ in publisher.records]
    assert [r["event_type"] for r in decoded] == ["play", "play", "sessionStart"]
    assert {r["session_id"] for r in decoded} == {sid}


async def test_invalid_downloaded_batch_publishes_nothing(client, publisher):
    response = await client.post("/api/v1/downloaded", json=[start(), {"eventType": "play"}])
    assert response.status_code == 400
    assert publisher.records == []


async def test_user_agent_is_recorded(client, publisher):
    await client.post("/api/v1/sessions", json=start(), headers={"User-Agent": "tv-player/2"})
    assert codec.media_events().decode(publisher.records[0][1])["user_agent"] == "tv-player/2"


@pytest.mark.parametrize("event_type", sorted(set(EVENT_TYPES) - {"sessionStart"}))
async def test_every_event_type_is_accepted_on_a_session(client, publisher, event_type):
    body = minimal_event(event_type)
    sid = sessionids.mint("k1", NOW - 1000)
    response = await client.post(f"/api/v1/sessions/{sid}/events", json=body)
    assert response.status_code == 204, response.text
    assert_cors(response)
    record = codec.media_events().decode(publisher.records[-1][1])
    assert record["event_type"] == event_type and record["session_id"] == sid


@pytest.mark.parametrize("event_type", sorted(REQUIRED_PARAMS))
async def test_each_required_param_is_enforced(client, event_type):
    body = minimal_event(event_type)
    sid = sessionids.mint("k1", NOW - 1000)
    path = "/api/v1/sessions" if event_type == "sessionStart" else f"/api/v1/sessions/{sid}/events"
    for name in REQUIRED_PARAMS[event_type]:
        params = {k: v for k, v in body["params"].items() if k != name}
        response = await client.post(path, json={**body, "params": params})
        assert response.status_code == 400
        assert {"path": f"/params/{name}", "error": "is required"} in response.json()["errors"]


async def test_session_start_is_refused_on_the_events_path(client):
    sid = sessionids.mint("k1", NOW - 1000)
    response = await client.post(f"/api/v1/sessions/{sid}/events", json=start())
    assert response.status_code == 400


async def test_secret_rotation_verifies_old_ids(publisher):
    rotated = SETTINGS.model_copy(update={"session_secrets": ("k2", "k1")})
    app = create_app(rotated, publisher, clock=lambda: NOW)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e") as c:
        ping = {"eventType": "ping", "playerTime": {"playhead": 1, "ts": NOW}}
        old = sessionids.mint("k1", NOW - 1000)
        assert (await c.post(f"/api/v1/sessions/{old}/events", json=ping)).status_code == 204
        new = (await c.post("/api/v1/sessions", json=start())).headers["location"][-64:]
        assert sessionids.verify(new, ["k2"], NOW, 86_400_000) == NOW


async def test_a_handler_runs_alone_with_its_dependencies_passed_in(publisher):
    """No application, no router: the handler and an ``Edge``."""
    received = [{"type": "http.request", "body": orjson.dumps(start()), "more_body": False}]

    async def receive():
        return received.pop(0)

    request = Incoming({"headers": [(b"content-type", b"application/json")]}, receive)
    answer = await start_session(Edge(SETTINGS, publisher, clock=lambda: NOW), request)
    assert answer.status == 201
    assert (answer.header("location") or "").startswith("/api/v1/sessions/")
    assert len(publisher.records) == 1
