"""A poison record on the media-events topic goes to the dead-letter topic, with its reason in
the headers, from both the worker and the sink; good records behind it are still counted."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from sessionflow.topics import Topics
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body


async def produce_poison(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for partition in range(3):
            await producer.send_and_wait(
                topic, b"\xc3\x01not-avro", key=b"poison", partition=partition
            )
    finally:
        await producer.stop()


async def dead_letters(bootstrap: str, topic: str, want: int) -> list[tuple[bytes, dict]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    found: list[tuple[bytes, dict]] = []
    try:
        deadline = time.monotonic() + 60
        while len(found) < want and time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                found += [(m.value, dict(m.headers)) for m in messages]
    finally:
        await consumer.stop()
    return found


def test_poison_goes_to_dead_letter_and_good_records_still_count(pipeline: Pipeline):
    topics = Topics(pipeline.settings.topic_prefix)
    bootstrap = pipeline.settings.kafka_bootstrap
    asyncio.run(produce_poison(bootstrap, topics.media_events))
    now = datetime.now(UTC)
    app = "rsid-after-poison"
    with httpx.Client(base_url=pipeline.edge_url) as client:
        for _ in range(6):
            response = client.post("/api/v1/sessions", json=body(app, int(now.timestamp() * 1000)))
            assert response.status_code == 201
    key = pipeline.create_key("--org", ORG, "--app", app)
    deadline = time.monotonic() + 60
    total = 0
    while time.monotonic() < deadline:
        answer = httpx.get(
            pipeline.api_url + "/sessions/data_series",
            params={
                "length": 1,
                "app_id": app,
                "ending_at": (now + timedelta(minutes=1)).isoformat(),
            },
            headers={"Authorization": f"Bearer {key}"},
        ).json()
        total = answer["data"][0]["sessions"]
        if total == 6:
            break
        time.sleep(0.5)
    assert total == 6
    letters = asyncio.run(dead_letters(bootstrap, topics.dead_letter, want=6))
    poison = [headers for value, headers in letters if value == b"\xc3\x01not-avro"]
    assert len(poison) == 6, (
        "3 poison records, dead-lettered once by the worker and once by the sink"
    )
    assert {h["reason"] for h in poison} == {b"undecodable"}
    assert all(h["detail"] for h in poison)
    pipeline.check_alive()
