"""The collection edge's HTTP application (Starlette): Adobe Media Collection API, ``/api/v1``.

A 201 or 204 is sent only after Kafka acknowledged the record (acks=all); when Kafka cannot take
it the answer is 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

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
from schemas.topics import Topics
from sessionflow import sessionids
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
from sessionflow.settings import Settings

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


def create_app(
    settings: Settings,
    publisher: EventPublisher,
    clock: Callable[[], int] = wall_clock_ms,
) -> Starlette:
    """Build the edge application around a started-on-startup ``publisher``."""
    validator = EventValidator()
    events_codec = codec.media_events()
    topic = Topics(settings.topic_prefix).media_events

    async def parse(request: Request) -> object:
        content_type = request.headers.get("content-type", "")
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            return _error(
                415,
                "unsupported media type",
                [FieldError("Content-Type", "must be application/json")],
            )
        try:
            raw = await read_body(request, settings.max_body_bytes)
        except BodyTooLarge:
            return _error(
                413,
                "request body too large",
                [FieldError("", f"body must be at most {settings.max_body_bytes} bytes")],
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _error(400, "malformed JSON", [FieldError("", str(exc))])
        return body

    async def store(
        record: dict[str, object], session_id: str, timestamp_ms: int, received_ms: int
    ) -> None:
        """Publish ``record`` and wait for Kafka's acknowledgement, or answer 503.

        Every request is judged on its own: its deadline runs from when the edge received it.
        A sessionStart's deadline runs from its session id's issue time instead (the worker
        and the sink check exactly that deadline, ``sessionflow.acceptance``); the id is
        minted from the same clock reading, so the two agree.
        """
        try:
            value = events_codec.encode(record)
        except SerializationError as exc:
            raise InvalidInput("event cannot be stored", [FieldError("", str(exc))]) from exc
        started_ms = (
            sessionids.issued_at_ms(session_id)
            if record["event_type"] == "sessionStart"
            else received_ms
        )
        deadline = edge_deadline_ms(started_ms, settings.kafka_publish_timeout_ms)
        await publisher.publish(
            topic, value, key=session_id.encode(), timestamp_ms=timestamp_ms, deadline_ms=deadline
        )

    async def start_session(request: Request) -> Response:
        body = await parse(request)
        if isinstance(body, Response):
            return body
        received_ms = clock()
        try:
            event = validator.validate(body, SESSION_START)
            session_id = sessionids.mint(settings.session_secrets[0], received_ms)
            record = media_event_record(event, session_id, received_ms, agent(request))
            await store(record, session_id, int(record["session_time_ms"]), received_ms)
        except InvalidInput as exc:
            return _error(400, exc.message, exc.errors)
        except Unavailable as exc:
            return _unavailable(exc)
        return _created(session_id)

    async def session_event(request: Request) -> Response:
        session_id = request.path_params["sid"]
        received_ms = clock()
        try:
            sessionids.verify(
                session_id, settings.session_secrets, received_ms, settings.session_lifetime_ms
            )
        except UnknownSession as exc:
            return _error(404, "session not found", [FieldError("sid", str(exc))])
        except ExpiredSession as exc:
            return _error(410, "session expired", [FieldError("sid", str(exc))])
        body = await parse(request)
        if isinstance(body, Response):
            return body
        try:
            event = validator.validate(body, OTHER_EVENTS)
            record = media_event_record(event, session_id, received_ms, agent(request))
            await store(record, session_id, received_ms, received_ms)
        except InvalidInput as exc:
            return _error(400, exc.message, exc.errors)
        except Unavailable as exc:
            return _unavailable(exc)
        return Response(status_code=204)

    async def downloaded(request: Request) -> Response:
        body = await parse(request)
        if isinstance(body, Response):
            return body
        received_ms = clock()
        try:
            events = validator.validate_downloaded(body)
            session_id = sessionids.mint(settings.session_secrets[0], received_ms)
            records = [
                media_event_record(event, session_id, received_ms, agent(request))
                for event in events
            ]
            # The sessionStart goes last, once every other event is acknowledged: a failure
            # half-way leaves no counted session behind a 503. The others are sent together
            # (one round trip, ordered by the idempotent producer) so that the sessionStart
            # keeps most of its deadline.
            await asyncio.gather(
                *(store(record, session_id, received_ms, received_ms) for record in records[1:])
            )
            await store(records[0], session_id, int(records[0]["session_time_ms"]), received_ms)
        except InvalidInput as exc:
            return _error(400, exc.message, exc.errors)
        except Unavailable as exc:
            return _unavailable(exc)
        return _created(session_id)

    async def event_schema(request: Request) -> Response:
        name = request.path_params["event_type"]
        schema = validator.schemas.get(name)
        if schema is None:
            return _error(404, "unknown event type", [FieldError("eventType", name)])
        return json_response(schema)

    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return json_response(document)

    async def preflight(request: Request) -> Response:
        return Response(
            status_code=204,
            headers={"Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS)},
        )

    async def health(request: Request) -> Response:
        return json_response({"status": "ok"})

    def _unavailable(exc: Unavailable) -> Response:
        response = _error(503, str(exc))
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    async def on_error(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal error")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()

    routes = [
        Route("/api/v1/sessions", start_session, methods=["POST"]),
        Route("/api/v1/sessions", preflight, methods=["OPTIONS"]),
        Route("/api/v1/sessions/{sid}/events", session_event, methods=["POST"]),
        Route("/api/v1/sessions/{sid}/events", preflight, methods=["OPTIONS"]),
        Route("/api/v1/downloaded", downloaded, methods=["POST"]),
        Route("/api/v1/downloaded", preflight, methods=["OPTIONS"]),
        Route("/api/v1/schemas/{event_type}", event_schema, methods=["GET"]),
        Route("/api/v1/schemas/{event_type}", preflight, methods=["OPTIONS"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(FixedHeaders, headers=CORS_HEADERS)],
        exception_handlers={Exception: on_error},
        lifespan=lifespan,
    )
