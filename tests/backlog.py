"""Backlogs written straight to Kafka, as the edge would have written them: realistic sessions
(a sessionStart and its player's events, ``sessionflow.players``) encoded with the edge's own
validation and record mapping, produced with acks=all in large pipelined batches. Fault tests
use it to put ≥ 100,000 records behind a process in seconds."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer

from producers.records import media_event_record
from producers.validation import NOT_SESSION_START, SESSION_START, EventValidator
from schemas import codec
from sessionflow import players, sessionids
from sessionflow.settings import Settings
from sessionflow.topics import Topics


@dataclass
class Backlog:
    """What was written: every session (id, app, session time) and the record count."""

    sessions: list[tuple[str, str, int]] = field(default_factory=list)
    records: int = 0


async def write_backlog(
    settings: Settings,
    org: str,
    apps: tuple[str, ...],
    sessions: int,
    events_per_session: int = 59,
    seed: int = 1,
    mutate: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None,
    chunk: int = 4000,
    concurrent: int = 1,
) -> Backlog:
    """Write ``sessions`` sessions of ``1 + events_per_session`` records each to media-events.

    Session times spread over the last 3 hours. ``mutate(index, record)`` may alter a record
    before it is encoded (e.g. to make one unstorable). Ids are minted just before their chunk
    is produced, so every sessionStart is appended within the edge's deadline, as a 201's is.
    ``concurrent`` > 1 interleaves that many sessions as live traffic does: their sessionStarts,
    then each one's first event, then each one's second, and so on.
    """
    rng = random.Random(seed)
    validator = EventValidator()
    events_codec = codec.media_events()
    topic = Topics(settings.topic_prefix).media_events
    template = players.realistic_session(0, rng=rng)
    pattern = [s.body for s in template][:events_per_session]
    while len(pattern) < events_per_session:
        pattern.append({"eventType": "ping", "playerTime": {"playhead": 1, "ts": 0}})
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    backlog = Backlog()
    index = 0
    group = concurrent if concurrent > 1 else max(1, chunk // (1 + events_per_session))
    try:
        for first in range(0, sessions, group):
            count = min(sessions - first, group)
            futures = []
            now_ms = int(time.time() * 1000)
            started: list[tuple[str, list[dict[str, Any]]]] = []
            for n in range(first, first + count):
                app = apps[n % len(apps)]
                at_ms = now_ms - rng.randrange(0, 3 * 3_600_000)
                sid = sessionids.mint(settings.session_secrets[0], now_ms)
                started.append((sid, [players.session_start(org, app, at_ms), *pattern]))
                backlog.sessions.append((sid, app, at_ms))
            if concurrent > 1:  # position-major: every session's n-th record, then the next
                order = [(s, p) for p in range(1 + events_per_session) for s in range(count)]
            else:
                order = [(s, p) for s in range(count) for p in range(1 + events_per_session)]
            for session, position in order:
                sid, bodies = started[session]
                allowed = SESSION_START if position == 0 else NOT_SESSION_START
                record = media_event_record(
                    validator.validate(bodies[position], allowed), sid, now_ms
                )
                if mutate is not None:
                    record = mutate(index, record)
                index += 1
                futures.append(
                    await producer.send(topic, events_codec.encode(record), key=sid.encode())
                )
                if len(futures) >= chunk:
                    await asyncio.gather(*futures)
                    backlog.records += len(futures)
                    futures = []
            await asyncio.gather(*futures)
            backlog.records += len(futures)
    finally:
        await producer.stop()
    return backlog
