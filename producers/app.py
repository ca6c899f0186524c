"""The collection edge's HTTP application (Starlette): Adobe Media Collection API, ``/api/v1``.

A 201 or 204 is sent only after Kafka acknowledged the record (acks=all); when Kafka cannot take
it the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from producers.openapi import openapi_document
from producers.records import media_event_record
from producers.validation import NOT_SESSION_START as OTHER_EVENTS
from producers.validation import SESSION_START, EventValidator
from schemas import codec
from sessionflow import kafka, sessionids
from sessionflow.acceptance import edge_deadline_ms
from sessionflow.errors import (
    ExpiredSession,
    FieldError,
    InvalidInput,
    SerializationError,
    Unavailable,
    UnknownSession,
)
from sessionflow.http import BodyTooLarge, FixedHeaders, json_response, read_body
from sessionflow.ops import Check, RequestMetrics, ops_routes
from sessionflow.settings import Settings
from sessionflow.topics import Topics

logger = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "OPTIONS,POST,PUT",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Expose-Headers": "Location",
}
# Preflights only: without it Chromium re-sends a preflight for almost every 10-second ping.
PREFLIGHT_MAX_AGE_SECONDS = 7200


class EventPublisher(Protocol):
    """What the edge needs from Kafka (``sessionflow.kafka.Publisher`` in production)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def publish(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = ...,
        timestamp_ms: int | None = ...,
        deadline_ms: int | None = ...,
    ) -> tuple[int, int]: ...


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def agent(request: Request) -> str | None:
    value = request.headers.get("user-agent")
    return value[:512] if value else None


def _created(session_id: str) -> Response:
    """201, empty body, Location of the new session (Adobe's answer to a sessionStart)."""
    return Response(
        status_code=201,
        headers={"Location": f"/api/v1/sessions/{session_id}"},
        media_type="application/octet-stream",
    )


def _error(status: int, message: str, errors: list[FieldError] | None = None) -> Response:
    body = {
        "message": message,
        "errors": [{"path": e.path, "error": e.error} for e in errors or []],
    }
    return json_response(body, status)


@dataclass(frozen=True)
class Edge:
    """What the edge's handlers need, passed to each of them (built once by ``create_app``)."""

    settings: Settings
    publisher: EventPublisher
    clock: Callable[[], int] = wall_clock_ms
    validator: EventValidator = field(default_factory=EventValidator)
    events_codec: codec.AvroCodec = field(default_factory=codec.media_events)
    document: dict[str, Any] = field(default_factory=openapi_document)

    @property
    def topic(self) -> str:
        return Topics(self.settings.topic_prefix).media_events


def _refused(exc: InvalidInput | Unavailable) -> Response:
    """400 for data the contract refuses; 503 with ``Retry-After`` when Kafka cannot take it."""
    if isinstance(exc, InvalidInput):
        return _error(400, exc.message, exc.errors)
    response = _error(503, str(exc))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


async def parse(edge: Edge, request: Request) -> object:
    """The request's JSON body, or the 415/413/400 answer."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return _error(
            415, "unsupported media type", [FieldError("Content-Type", "must be application/json")]
        )
    limit = edge.settings.max_body_bytes
    try:
        raw = await read_body(request, limit)
    except BodyTooLarge:
        return _error(
            413, "request body too large", [FieldError("", f"body must be at most {limit} bytes")]
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, "malformed JSON", [FieldError("", str(exc))])


async def store(
    edge: Edge, record: dict[str, object], session_id: str, timestamp_ms: int, received_ms: int
) -> None:
    """Publish ``record`` and wait for Kafka's acknowledgement, or raise ``Unavailable``.

    Every request is judged on its own: its deadline runs from when the edge received it.
    A sessionStart's deadline runs from its session id's issue time instead (the worker
    and the sink check exactly that deadline, ``sessionflow.acceptance``); the id is
    minted from the same clock reading, so the two agree.
    """
    try:
        value = edge.events_codec.encode(record)
    except SerializationError as exc:
        raise InvalidInput("event cannot be stored", [FieldError("", str(exc))]) from exc
    started_ms = (
        sessionids.issued_at_ms(session_id)
        if record["event_type"] == "sessionStart"
        else received_ms
    )
    deadline = edge_deadline_ms(started_ms, edge.settings.kafka_publish_timeout_ms)
    await edge.publisher.publish(
        edge.topic, value, key=session_id.encode(), timestamp_ms=timestamp_ms, deadline_ms=deadline
    )


async def start_session(edge: Edge, request: Request) -> Response:
    """``POST /api/v1/sessions``: a sessionStart; 201 with ``Location``."""
    body = await parse(edge, request)
    if isinstance(body, Response):
        return body
    received_ms = edge.clock()
    try:
        event = edge.validator.validate(body, SESSION_START)
        session_id = sessionids.mint(edge.settings.session_secrets[0], received_ms)
        record = media_event_record(event, session_id, received_ms, agent(request))
        await store(edge, record, session_id, int(record["session_time_ms"]), received_ms)
    except (InvalidInput, Unavailable) as exc:
        return _refused(exc)
    return _created(session_id)


async def session_event(edge: Edge, request: Request) -> Response:
    """``POST /api/v1/sessions/{sid}/events``: any other event of a session; 204."""
    settings = edge.settings
    session_id = request.path_params["sid"]
    received_ms = edge.clock()
    try:
        sessionids.verify(
            session_id, settings.session_secrets, received_ms, settings.session_lifetime_ms
        )
    except UnknownSession as exc:
        return _error(404, "session not found", [FieldError("sid", str(exc))])
    except ExpiredSession as exc:
        return _error(410, "session expired", [FieldError("sid", str(exc))])
    body = await parse(edge, request)
    if isinstance(body, Response):
        return body
    try:
        event = edge.validator.validate(body, OTHER_EVENTS)
        record = media_event_record(event, session_id, received_ms, agent(request))
        await store(edge, record, session_id, received_ms, received_ms)
    except (InvalidInput, Unavailable) as exc:
        return _refused(exc)
    return Response(status_code=204)


async def downloaded(edge: Edge, request: Request) -> Response:
    """``POST /api/v1/downloaded``: a whole session recorded offline; 201 with ``Location``."""
    body = await parse(edge, request)
    if isinstance(body, Response):
        return body
    received_ms = edge.clock()
    try:
        events = edge.validator.validate_downloaded(body)
        session_id = sessionids.mint(edge.settings.session_secrets[0], received_ms)
        records = [
            media_event_record(event, session_id, received_ms, agent(request)) for event in events
        ]
        # The sessionStart goes last, once every other event is acknowledged: a failure
        # half-way leaves no counted session behind a 503. The others are sent together
        # (one round trip, ordered by the idempotent producer) so that the sessionStart
        # keeps most of its deadline.
        await asyncio.gather(
            *(store(edge, record, session_id, received_ms, received_ms) for record in records[1:])
        )
        await store(edge, records[0], session_id, int(records[0]["session_time_ms"]), received_ms)
    except (InvalidInput, Unavailable) as exc:
        return _refused(exc)
    return _created(session_id)


async def event_schema(edge: Edge, request: Request) -> Response:
    """``GET /api/v1/schemas/{event_type}``: the JSON Schema the edge validates it with."""
    name = request.path_params["event_type"]
    schema = edge.validator.schemas.get(name)
    if schema is None:
        return _error(404, "unknown event type", [FieldError("eventType", name)])
    return json_response(schema)


async def openapi(edge: Edge, request: Request) -> Response:
    return json_response(edge.document)


async def preflight(request: Request) -> Response:
    return Response(
        status_code=204, headers={"Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS)}
    )


async def on_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, "internal error")


def create_app(
    settings: Settings,
    publisher: EventPublisher,
    clock: Callable[[], int] = wall_clock_ms,
    checks: Mapping[str, Check] | None = None,
) -> Starlette:
    """Build the edge application around a started-on-startup ``publisher``; ``/ready``
    runs ``checks`` (default: Kafka answers)."""
    edge = Edge(settings, publisher, clock)
    if checks is None:
        checks = {"kafka": partial(kafka.probe, settings)}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()

    routes = [
        Route("/api/v1/sessions", partial(start_session, edge), methods=["POST"]),
        Route("/api/v1/sessions/{sid}/events", partial(session_event, edge), methods=["POST"]),
        Route("/api/v1/downloaded", partial(downloaded, edge), methods=["POST"]),
        Route("/api/v1/schemas/{event_type}", partial(event_schema, edge), methods=["GET"]),
        Route("/openapi.json", partial(openapi, edge), methods=["GET"]),
    ]
    # Every API path answers CORS preflights.
    routes += [Route(route.path, preflight, methods=["OPTIONS"]) for route in routes[:4]]
    routes += ops_routes(checks)
    return Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestMetrics, process="edge"),
            Middleware(FixedHeaders, headers=CORS_HEADERS),
        ],
        exception_handlers={Exception: on_error},
        lifespan=lifespan,
    )
