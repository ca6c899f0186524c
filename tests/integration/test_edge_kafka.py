"""The edge against the real Kafka broker: a 201 means the record is in the topic."""

from __future__ import annotations

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from producers.app import create_app
from schemas import codec
from schemas.topics import Topics
from sessionflow.kafka import Publisher, ensure_sessionflow_topics

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


async def test_session_start_lands_in_kafka_keyed_by_session_id(settings):
    topics = Topics(settings.topic_prefix)
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
    consumer = AIOKafkaConsumer(
        topics.media_events, bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest", enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    try:
        found = {}
        for _ in range(20):
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    found[m.key.decode()] = codec.media_events().decode(m.value)
            if len(found) == 5:
                break
    finally:
        await consumer.stop()
    assert set(found) == set(sids)
    assert all(r["session_id"] == sid for sid, r in found.items())
