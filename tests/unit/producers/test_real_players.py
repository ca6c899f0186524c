"""The edge under the timelines real players send (SPEC §2 "Real players"), on a clock the test
moves: sessions last far longer than every timeout involved, and every request must be judged
on its own. The publisher refuses a record whose deadline has passed, as Kafka's would."""

from __future__ import annotations

import itertools
import random

import httpx
import pytest

from producers.app import PREFLIGHT_MAX_AGE_SECONDS, create_app
from schemas import codec
from sessionflow import players
from sessionflow.acceptance import accepted_until_ms, edge_gives_up_ms
from sessionflow.errors import KafkaUnavailable
from sessionflow.settings import Settings

START = 1_731_672_000_000
PUBLISH_MS = 3  # how long each acknowledgement takes on the test clock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now_ms = START

    def __call__(self) -> int:
        return self.now_ms


class DeadlinePublisher:
    """Acknowledges after ``PUBLISH_MS`` of test time, unless the deadline is sooner."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.records: list[bytes] = []
        self.deadlines: list[int] = []
        self.accepted_until: list[int] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(
        self, topic, value, key=None, timestamp_ms=None, deadline_ms=None, accept_until_ms=None,
        urgent=False,
    ):  # fmt: skip
        assert deadline_ms is not None
        self.deadlines.append(deadline_ms)
        if accept_until_ms is not None:
            self.accepted_until.append(accept_until_ms)
        if deadline_ms < self.clock.now_ms + PUBLISH_MS:
            raise KafkaUnavailable("the event store did not acknowledge in time", 2)
        self.records.append(value)
        return 0, len(self.records) - 1


def make_client(settings: Settings, clock: Clock, publisher: DeadlinePublisher):
    app = create_app(settings, publisher, clock=clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


@pytest.mark.parametrize("publish_timeout_ms", [100, 5000])
async def test_a_ten_minute_session_is_accepted_whole(publish_timeout_ms):
    settings = Settings(session_secrets=("k",), kafka_publish_timeout_ms=publish_timeout_ms)
    clock = Clock()
    publisher = DeadlinePublisher(clock)
    steps = players.realistic_session(START, rng=random.Random(3))
    assert steps[-1].at_ms > 100 * publish_timeout_ms  # longer than every timeout involved
    async with make_client(settings, clock, publisher) as client:
        created = await client.post(
            "/api/v1/sessions", json=players.session_start("org", "app", START)
        )
        assert created.status_code == 201
        sid = created.headers["location"][-64:]
        for step in steps:
            clock.now_ms = START + step.at_ms
            response = await client.post(f"/api/v1/sessions/{sid}/events", json=step.body)
            assert response.status_code == 204, (step, response.text)
    types = [codec.media_events().decode(v)["event_type"] for v in publisher.records]
    assert types[0] == "sessionStart" and types[-1] == "sessionComplete"
    assert len(types) == 1 + len(steps)
    assert 55 <= len(steps) <= 110
    # Each deadline runs from its own request, never from the sessionStart.
    step_deadlines = publisher.deadlines[1:]
    assert step_deadlines == [START + s.at_ms + publish_timeout_ms for s in steps]


async def test_event_an_hour_after_start_is_as_welcome_as_at_once():
    settings = Settings(session_secrets=("k",))
    clock = Clock()
    publisher = DeadlinePublisher(clock)
    ping = {"eventType": "ping", "playerTime": {"playhead": 3600, "ts": START + 3_600_000}}
    async with make_client(settings, clock, publisher) as client:
        sid = (
            await client.post("/api/v1/sessions", json=players.session_start("o", "a", START))
        ).headers["location"][-64:]
        clock.now_ms += 6_000  # the defect: everything after 5 s was a 503
        assert (await client.post(f"/api/v1/sessions/{sid}/events", json=ping)).status_code == 204
        clock.now_ms += 3_600_000
        assert (await client.post(f"/api/v1/sessions/{sid}/events", json=ping)).status_code == 204


async def test_burst_when_the_content_starts_and_pings_while_paused():
    settings = Settings(session_secrets=("k",))
    clock = Clock()
    publisher = DeadlinePublisher(clock)
    steps = players.realistic_session(START, content_s=120, rng=random.Random(1))
    startup_ms = steps[0].at_ms
    assert 300 <= startup_ms < 2500  # the content starts after a startup time
    burst = [s for s in steps if s.at_ms == startup_ms]
    assert [s.event_type for s in burst] == ["play", "bitrateChange", "chapterStart"]
    paused = False
    pings_while_paused = 0
    for step in steps:
        if step.event_type in ("pauseStart", "play"):
            paused = step.event_type == "pauseStart"
        pings_while_paused += paused and step.event_type == "ping"
    assert pings_while_paused >= 2
    ad_pings = [
        b.at_ms - a.at_ms
        for a, b in itertools.pairwise(steps)
        if a.event_type == "ping" and b.event_type == "ping" and b.at_ms - a.at_ms < 10_000
    ]
    assert ad_pings and set(ad_pings) == {1000}
    playheads = [s.body["playerTime"]["playhead"] for s in steps]
    assert any(b < a for a, b in itertools.pairwise(playheads))  # a seek back
    async with make_client(settings, clock, publisher) as client:
        sid = (
            await client.post("/api/v1/sessions", json=players.session_start("o", "a", START))
        ).headers["location"][-64:]
        for step in steps:
            clock.now_ms = START + step.at_ms
            response = await client.post(f"/api/v1/sessions/{sid}/events", json=step.body)
            assert response.status_code == 204, response.text


async def test_a_slow_session_start_is_still_refused_past_its_own_deadline():
    """The fix must not loosen a sessionStart: what counts stays judged from its issue time +
    the timeout, by the rule the worker and the sink apply (``sessionflow.acceptance``)."""
    settings = Settings(session_secrets=("k",), kafka_publish_timeout_ms=100)
    clock = Clock()
    publisher = DeadlinePublisher(clock)
    async with make_client(settings, clock, publisher) as client:
        await client.post("/api/v1/sessions", json=players.session_start("o", "a", START))
    assert publisher.accepted_until == [accepted_until_ms(START, 100)] == [START + 100 + 1000]
    assert publisher.deadlines == [edge_gives_up_ms(START, 100)]


async def test_content_complete_is_stored_as_session_complete():
    settings = Settings(session_secrets=("k",))
    clock = Clock()
    publisher = DeadlinePublisher(clock)
    done = {"eventType": "contentComplete", "playerTime": {"playhead": 60, "ts": START}}
    async with make_client(settings, clock, publisher) as client:
        sid = (
            await client.post("/api/v1/sessions", json=players.session_start("o", "a", START))
        ).headers["location"][-64:]
        response = await client.post(f"/api/v1/sessions/{sid}/events", json=done)
        assert response.status_code == 204, response.text
        schema = await client.get("/api/v1/schemas/contentComplete")
        assert schema.status_code == 200
        assert schema.json()["properties"]["eventType"] == {"const": "contentComplete"}
    assert codec.media_events().decode(publisher.records[-1])["event_type"] == "sessionComplete"


async def test_negative_media_length_is_400_naming_it_with_adobes_live_rule():
    settings = Settings(session_secrets=("k",))
    clock = Clock()
    publisher = DeadlinePublisher(clock)
    body = players.session_start("o", "a", START, media_length_s=-5)
    async with make_client(settings, clock, publisher) as client:
        response = await client.post("/api/v1/sessions", json=body)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["path"] == "/params/media.length"
    assert "86400" in error["error"]
    assert publisher.records == []


async def test_preflights_are_cacheable_for_two_hours():
    settings = Settings(session_secrets=("k",))
    clock = Clock()
    async with make_client(settings, clock, DeadlinePublisher(clock)) as client:
        response = await client.options(
            "/api/v1/sessions/abc/events",
            headers={"Origin": "http://player.example", "Access-Control-Request-Method": "POST"},
        )
    assert response.status_code == 204
    assert response.headers["access-control-max-age"] == str(PREFLIGHT_MAX_AGE_SECONDS) == "7200"
