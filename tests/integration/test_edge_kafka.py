"""The edge against the real Kafka broker: a 201 means the record is in the topic."""

from __future__ import annotations

import asyncio
import random
import time

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from producers.app import create_app
from schemas import codec
from sessionflow import players
from sessionflow.kafka import Publisher, ensure_sessionflow_topics
from sessionflow.topics import Topics

pytestmark = pytest.mark.anyio

BODY = {
    "eventType": "sessionStart",
    "playerTime": {"playhead": 0, "ts": 1},
    "params": {
        "analytics.trackingServer": "t", "analytics.reportSuite": "app",
        "visitor.marketingCloudOrgId": "org", "media.id": "m", "media.playerName": "p",
        "media.channel": "c", "media.contentType": "VOD", "media.length": 1,
    },
}  # fmt: skip


async def read_media_events(settings, want: int) -> list[tuple[bytes, dict]]:
    """The media-events topic from the start, decoded, until ``want`` records (or 20 s)."""
    consumer = AIOKafkaConsumer(
        Topics(settings.topic_prefix).media_events, bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    found: list[tuple[bytes, dict]] = []
    try:
        for _ in range(40):
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += [(m.key, codec.media_events().decode(m.value)) for m in messages]
            if len(found) >= want:
                break
    finally:
        await consumer.stop()
    return found


async def test_session_start_lands_in_kafka_keyed_by_session_id(settings):
    await ensure_sessionflow_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    app = create_app(settings, publisher)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge"
        ) as client:
            sids = []
            for _ in range(5):
                response = await client.post("/api/v1/sessions", json=BODY)
                assert response.status_code == 201
                sids.append(response.headers["location"].rsplit("/", 1)[1])
    finally:
        await publisher.stop()
    found = {key.decode(): record for key, record in await read_media_events(settings, 5)}
    assert set(found) == set(sids)
    assert all(r["session_id"] == sid for sid, r in found.items())


async def test_a_session_longer_than_the_publish_timeout_lands_whole(settings):
    """A real player's timeline (time compressed 150 times) on the real broker with a 300 ms publish
    timeout: the session lasts ~13 times that, and every event must get its 204 and land."""
    settings = settings.model_copy(update={"kafka_publish_timeout_ms": 300})
    await ensure_sessionflow_topics(settings)
    publisher = Publisher(settings)
    await publisher.start()
    app = create_app(settings, publisher)
    now_ms = int(time.time() * 1000)
    steps = players.compress(players.realistic_session(now_ms, rng=random.Random(5)), 150)
    assert steps[-1].at_ms > 10 * settings.kafka_publish_timeout_ms
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge"
        ) as client:
            created = await client.post(
                "/api/v1/sessions", json=players.session_start("org", "app", now_ms)
            )
            assert created.status_code == 201
            sid = created.headers["location"][-64:]
            began = time.monotonic()
            for step in steps:
                await asyncio.sleep(max(0.0, began + step.at_ms / 1000 - time.monotonic()))
                response = await client.post(f"/api/v1/sessions/{sid}/events", json=step.body)
                assert response.status_code == 204, (step, response.text)
    finally:
        await publisher.stop()
    found = [
        record["event_type"] for _, record in await read_media_events(settings, 1 + len(steps))
    ]
    assert found == ["sessionStart", *(s.event_type for s in steps)]
