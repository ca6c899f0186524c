"""The collection edge's HTTP application (Starlette): Adobe Media Collection API, ``/api/v1``.

A 201 or 204 is sent only after Kafka acknowledged the record (acks=all); when Kafka cannot take
it the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
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
from starlette.types import ASGIApp, Receive, Scope, Send

from producers.openapi import openapi_document
from producers.records import media_event_record
from producers.validation import NOT_SESSION_START as OTHER_EVENTS
from producers.validation import SESSION_START, EventValidator
from schemas import codec
from sessionflow import kafka, sessionids
from sessionflow.acceptance import accepted_until_ms, edge_deadline_ms, edge_gives_up_ms
from sessionflow.errors import (
    ExpiredSession,
    FieldError,
    InvalidInput,
    SerializationError,
    Unavailable,
    UnknownSession,
)
from sessionflow.http import (
    Answer,
    BodyTooLarge,
    FixedHeaders,
    Incoming,
    json_response,
    raw_headers,
)
from sessionflow.ops import Check, RequestMetrics, RouteMetrics, ops_routes
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
        *,
        accept_until_ms: int | None = ...,
        urgent: bool = ...,
    ) -> tuple[int, int]: ...


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def agent(request: Incoming) -> str | None:
    value = request.header(b"user-agent")
    return value[:512] if value else None


def _created(session_id: str) -> Answer:
    """201, empty body, Location of the new session (Adobe's answer to a sessionStart)."""
    return Answer(
        201,
        b"",
        (
            (b"location", f"/api/v1/sessions/{session_id}".encode()),
            (b"content-type", b"application/octet-stream"),
        ),
    )


NO_CONTENT = Answer(204)


def _error(
    status: int,
    message: str,
    errors: list[FieldError] | None = None,
    *headers: tuple[bytes, bytes],
) -> Answer:
    body = {
        "message": message,
        "errors": [{"path": e.path, "error": e.error} for e in errors or []],
    }
    return Answer.json(body, status, *headers)


@dataclass(frozen=True)
class Edge:
    """What the edge's handlers need, passed to each of them (built once by ``create_app``)."""

    settings: Settings
    publisher: EventPublisher
    clock: Callable[[], int] = wall_clock_ms
    validator: EventValidator = field(default_factory=EventValidator)
    events_codec: codec.AvroCodec = field(default_factory=codec.media_events)
    document: dict[str, Any] = field(default_factory=openapi_document)
    # Session ids found signed, remembered for the sessions' later events.
    sessions: sessionids.Verifier = field(init=False)

    def __post_init__(self) -> None:
        verifier = sessionids.Verifier(
            self.settings.session_secrets, self.settings.session_cache_size
        )
        object.__setattr__(self, "sessions", verifier)  # frozen: set once, here

    @property
    def topic(self) -> str:
        return Topics(self.settings.topic_prefix).media_events


def _refused(exc: InvalidInput | Unavailable) -> Answer:
    """400 for data the contract refuses; 503 with ``Retry-After`` when Kafka cannot take it."""
    if isinstance(exc, InvalidInput):
        return _error(400, exc.message, exc.errors)
    return _error(503, str(exc), None, (b"retry-after", str(exc.retry_after).encode()))


async def parse(edge: Edge, request: Incoming) -> object:
    """The request's JSON body, or the 415/413/400 answer."""
    content_type = request.header(b"content-type") or ""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        return _error(
            415, "unsupported media type", [FieldError("Content-Type", "must be application/json")]
        )
    limit = edge.settings.max_body_bytes
    try:
        raw = await request.body(limit)
    except BodyTooLarge:
        return _error(
            413, "request body too large", [FieldError("", f"body must be at most {limit} bytes")]
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _error(400, "malformed JSON", [FieldError("", str(exc))])


async def store(
    edge: Edge,
    record: dict[str, object],
    session_id: str,
    timestamp_ms: int,
    received_ms: int,
    urgent: bool = False,
) -> None:
    """Publish ``record`` and wait for Kafka's acknowledgement, or raise ``Unavailable``
    (``urgent``: without waiting out the producer's linger).

    Every request is judged on its own: its deadline runs from when the edge received it.
    A sessionStart's runs from its session id's issue time instead, and its acknowledgement
    must carry a broker append time the worker and the sink accept (``sessionflow.acceptance``,
    the same function); the id is minted from the same clock reading, so the two agree.
    """
    try:
        value = edge.events_codec.encode(record)
    except SerializationError as exc:
        raise InvalidInput("event cannot be stored", [FieldError("", str(exc))]) from exc
    timeout_ms = edge.settings.kafka_publish_timeout_ms
    if record["event_type"] == "sessionStart":  # counted: judged by the consumers' rule
        issued_ms = sessionids.issued_at_ms(session_id)
        deadline = edge_gives_up_ms(issued_ms, timeout_ms)
        accept_until: int | None = accepted_until_ms(issued_ms, timeout_ms)
    else:
        deadline, accept_until = edge_deadline_ms(received_ms, timeout_ms), None
    await edge.publisher.publish(
        edge.topic, value, key=session_id.encode(), timestamp_ms=timestamp_ms,
        deadline_ms=deadline, accept_until_ms=accept_until, urgent=urgent,
    )  # fmt: skip


async def start_session(edge: Edge, request: Incoming) -> Answer:
    """``POST /api/v1/sessions``: a sessionStart; 201 with ``Location``."""
    body = await parse(edge, request)
    if isinstance(body, Answer):
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


async def session_event(edge: Edge, request: Incoming) -> Answer:
    """``POST /api/v1/sessions/{sid}/events``: any other event of a session; 204."""
    settings = edge.settings
    session_id = request.params["sid"]
    received_ms = edge.clock()
    try:
        edge.sessions.verify(session_id, received_ms, settings.session_lifetime_ms)
    except UnknownSession as exc:
        return _error(404, "session not found", [FieldError("sid", str(exc))])
    except ExpiredSession as exc:
        return _error(410, "session expired", [FieldError("sid", str(exc))])
    body = await parse(edge, request)
    if isinstance(body, Answer):
        return body
    try:
        event = edge.validator.validate(body, OTHER_EVENTS)
        record = media_event_record(event, session_id, received_ms, agent(request))
        await store(edge, record, session_id, received_ms, received_ms)
    except (InvalidInput, Unavailable) as exc:
        return _refused(exc)
    return NO_CONTENT


async def downloaded(edge: Edge, request: Incoming) -> Answer:
    """``POST /api/v1/downloaded``: a whole session recorded offline; 201 with ``Location``."""
    body = await parse(edge, request)
    if isinstance(body, Answer):
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
        # keeps most of its deadline. Neither waits out the producer's linger, which gathers
        # records of separate requests: the last of the others sends their batch, and the
        # sessionStart goes alone (2 x 20 ms less per session).
        others = records[1:]
        last = len(others) - 1
        await asyncio.gather(
            *(
                store(edge, record, session_id, received_ms, received_ms, urgent=i == last)
                for i, record in enumerate(others)
            )
        )
        start_ms = int(records[0]["session_time_ms"])
        await store(edge, records[0], session_id, start_ms, received_ms, urgent=True)
    except (InvalidInput, Unavailable) as exc:
        return _refused(exc)
    return _created(session_id)


async def event_schema(edge: Edge, request: Request) -> Response:
    """``GET /api/v1/schemas/{event_type}``: the JSON Schema the edge validates it with."""
    name = request.path_params["event_type"]
    schema = edge.validator.schemas.get(name)
    if schema is None:
        return _error(404, "unknown event type", [FieldError("eventType", name)]).response()
    return json_response(schema)


async def openapi(edge: Edge, request: Request) -> Response:
    return json_response(edge.document)


async def preflight(request: Request) -> Response:
    return Response(
        status_code=204, headers={"Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS)}
    )


async def on_error(request: Request, exc: Exception) -> Response:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return _error(500, "internal error").response()


Handler = Callable[[Edge, Incoming], Awaitable[Answer]]


def _endpoint(edge: Edge, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """``handler`` as a Starlette endpoint."""

    async def endpoint(request: Request) -> Response:
        answer = await handler(edge, Incoming(request.scope, request.receive))
        return answer.response()

    return endpoint


SESSIONS = "/api/v1/sessions"
EVENTS = "/api/v1/sessions/{sid}/events"
EVENTS_SUFFIX = "/events"


class CollectionApp:
    """The edge's ASGI entry: the two routes every player hits (sessionStart, then its events
    every few seconds) go straight to their handler; everything else (schemas, OpenAPI,
    preflights, downloaded sessions, ops, lifespan) to the Starlette app behind.

    Measured (bench/README.md): Starlette's router, Request/Response objects and four
    middleware layers cost more CPU per ping than validating, encoding and producing it. This
    path keeps their behaviour: the same handlers, the CORS headers, request metrics by route
    template, and a 500 body on an unexpected error.
    """

    def __init__(self, edge: Edge, fallback: ASGIApp, fixed_headers: Mapping[str, str]) -> None:
        self.edge = edge
        self.fallback = fallback
        self.fixed = raw_headers(fixed_headers)
        self.metrics = RouteMetrics("edge")

    @staticmethod
    def _route(path: str) -> tuple[str, Handler, dict[str, str]] | None:
        if path == SESSIONS:
            return SESSIONS, start_session, {}
        if path.startswith(SESSIONS + "/") and path.endswith(EVENTS_SUFFIX):
            sid = path[len(SESSIONS) + 1 : -len(EVENTS_SUFFIX)]
            if sid and "/" not in sid:
                return EVENTS, session_event, {"sid": sid}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = (
            self._route(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if found is None:
            await self.fallback(scope, receive, send)
            return
        route, handler, params = found
        started = time.perf_counter()
        try:
            answer = await handler(self.edge, Incoming(scope, receive, params))
        except Exception:  # the process edge: a bug answers 500 and is logged, never a crash
            logger.exception("unhandled error on POST %s", scope["path"])
            answer = _error(500, "internal error")
        await answer.send(send, self.fixed)
        self.metrics.record(route, "POST", answer.status, time.perf_counter() - started)


def create_app(
    settings: Settings,
    publisher: EventPublisher,
    clock: Callable[[], int] = wall_clock_ms,
    checks: Mapping[str, Check] | None = None,
) -> CollectionApp:
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
        Route(SESSIONS, _endpoint(edge, start_session), methods=["POST"]),
        Route(EVENTS, _endpoint(edge, session_event), methods=["POST"]),
        Route("/api/v1/downloaded", _endpoint(edge, downloaded), methods=["POST"]),
        Route("/api/v1/schemas/{event_type}", partial(event_schema, edge), methods=["GET"]),
        Route("/openapi.json", partial(openapi, edge), methods=["GET"]),
    ]
    # Every API path answers CORS preflights.
    routes += [Route(route.path, preflight, methods=["OPTIONS"]) for route in routes[:4]]
    routes += ops_routes(checks)
    fallback = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestMetrics, process="edge"),
            Middleware(FixedHeaders, headers=CORS_HEADERS),
        ],
        exception_handlers={Exception: on_error},
        lifespan=lifespan,
    )
    return CollectionApp(edge, fallback, CORS_HEADERS)
