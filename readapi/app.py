"""The read API's HTTP application (Starlette): Braze-style ``GET /sessions/data_series``,
its two siblings, and ``PUT/GET/DELETE /segments/{segment_id}``.

Order of checks: 401 (key), 429 (rate), 403 (permission), 400 (parameters), 403 (app),
404 (segment). Every response carries the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from readapi.keys import ApiKey, KeyStore
from readapi.openapi import openapi_document
from readapi.params import (
    SeriesQuery,
    check_segment_id,
    parse_segment_definition,
    parse_series_query,
)
from readapi.ratelimit import Quota, RateLimiter
from readapi.segments import SegmentLimit, Segments
from readapi.series import (
    QOE_METRICS,
    concurrent_series,
    dau_series,
    event_series,
    qoe_series,
    session_series,
)
from sessionflow import metrics
from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import ClickHouseUnavailable, FieldError, InvalidInput, Unavailable
from sessionflow.events import EVENT_TYPES
from sessionflow.http import json_response
from sessionflow.ops import RequestMetrics, ops_routes
from sessionflow.segments import BACKFILLING, READY, Segment
from sessionflow.settings import Settings
from sessionflow.tables import ensure_tables
from sessionflow.timebuckets import Unit, series_buckets

logger = logging.getLogger(__name__)

SERIES_PERMISSION = "sessions.data_series"
SEGMENTS_PERMISSION = "segments.write"


def _no_extra(params: Mapping[str, str], query: SeriesQuery) -> str:
    return ""


def _event_param(params: Mapping[str, str], query: SeriesQuery) -> str:
    event = params.get("event")
    if event not in EVENT_TYPES:
        raise InvalidInput(
            "invalid parameters", [FieldError("event", "event must be an Adobe event type")]
        )
    return event


def _qoe_metric(params: Mapping[str, str], query: SeriesQuery) -> str:
    metric = params.get("metric")
    if metric not in QOE_METRICS:
        raise InvalidInput(
            "invalid parameters",
            [FieldError("metric", f"metric must be one of {', '.join(QOE_METRICS)}")],
        )
    return metric


def _days_only(params: Mapping[str, str], query: SeriesQuery) -> str:
    if query.unit is not Unit.DAY:
        raise InvalidInput("invalid parameters", [FieldError("unit", "unit must be 'day'")])
    return ""


@dataclass(frozen=True)
class SeriesKind:
    """One of the series the API serves: its permission, item field, extra check and units
    (the first is the default)."""

    permission: str
    field: str
    check: Callable[[Mapping[str, str], SeriesQuery], str]
    units: tuple[Unit, ...] = (Unit.DAY, Unit.HOUR)


SESSIONS = SeriesKind(SERIES_PERMISSION, "sessions", _no_extra)
EVENTS = SeriesKind("events.data_series", "count", _event_param)
DAU = SeriesKind("kpi.dau.data_series", "dau", _days_only)
QOE = SeriesKind("kpi.qoe.data_series", "value", _qoe_metric)
CONCURRENT = SeriesKind(
    "kpi.concurrent.data_series", "viewers", _no_extra, (Unit.MINUTE, Unit.HOUR)
)


def _braze_error(
    status: int, message: str, errors: list[str], quota: Quota, retry_after: int | None = None
) -> Response:
    headers = quota.headers()
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return json_response({"message": message, "errors": errors}, status, headers=headers)


def _app_forbidden(key: ApiKey, app_id: str | None, quota: Quota) -> Response | None:
    """The 403 for an app outside the key's scope (``None``: no app, or one it may read)."""
    if app_id is None or key.may_read(app_id):
        return None
    return _braze_error(403, "forbidden", [f"key may not read app {app_id}"], quota)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ReadApi:
    """What the read API's handlers need, passed to each of them (built once by
    ``create_app``)."""

    settings: Settings
    clickhouse: ClickHouse
    keys: KeyStore
    segments: Segments
    now: Callable[[], datetime] = utc_now
    limiter: RateLimiter = field(default_factory=RateLimiter)
    document: dict[str, Any] = field(default_factory=openapi_document)

    @classmethod
    def of(
        cls, settings: Settings, clickhouse: ClickHouse, now: Callable[[], datetime] = utc_now
    ) -> ReadApi:
        keys = KeyStore(clickhouse, settings.key_cache_seconds, settings.rate_limit_per_hour)
        return cls(settings, clickhouse, keys, Segments(settings, clickhouse), now)


def _route_of(request: Request) -> str:
    """The route template that matched (``/segments/{segment_id}``), never the raw path."""
    return str(getattr(request.scope.get("route"), "path", "unmatched"))


async def authenticate(api: ReadApi, request: Request) -> tuple[ApiKey | None, Quota]:
    """The request's key (``None``: missing or unknown) and its quota after this request."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    now_s = time.time()
    unmetered = api.limiter.unmetered(api.settings.rate_limit_per_hour, now_s)
    if scheme.lower() != "bearer" or not token.strip():
        return None, unmetered
    key = await asyncio.to_thread(api.keys.lookup, token.strip())
    if key is None:
        return None, unmetered
    return key, api.limiter.hit(key.key_id, key.rate_limit_per_hour, now_s)


async def admit(
    api: ReadApi, request: Request, permissions: tuple[str, ...]
) -> tuple[ApiKey, Quota] | Response:
    """The request's key and quota, or the 401/429/403/503 answer (first that applies)."""
    try:
        key, quota = await authenticate(api, request)
    except ClickHouseUnavailable:
        quota = api.limiter.unmetered(api.settings.rate_limit_per_hour, time.time())
        return _braze_error(503, "temporarily unavailable", ["storage unavailable"], quota)
    if key is None:
        return _braze_error(401, "invalid API key", ["missing or unknown API key"], quota)
    if not quota.allowed:
        metrics.RATE_LIMITED.labels(_route_of(request)).inc()
        retry = max(1, quota.reset_epoch_s - int(time.time()))
        return _braze_error(429, "rate limit exceeded", ["too many requests"], quota, retry)
    if not any(key.allows(p) for p in permissions):
        return _braze_error(
            403, "forbidden", [f"key lacks the permission {' or '.join(permissions)}"], quota
        )
    return key, quota


async def readable_segment(
    api: ReadApi, key: ApiKey, segment_id: str, quota: Quota, fresh: bool = False
) -> Segment | Response:
    """The key's org's live segment ``segment_id``, or its 404/403 answer; as read at most
    ``segment_cache_seconds`` ago unless ``fresh`` (the segment routes, which change it)."""
    store = api.segments.store
    lookup = store.get if fresh else store.recent
    found = await asyncio.to_thread(lookup, key.org_id, segment_id)
    if found is None:
        return _braze_error(404, "not found", [f"unknown segment {segment_id}"], quota)
    forbidden = _app_forbidden(key, found.app_id, quota)
    return found if forbidden is None else forbidden


async def series(api: ReadApi, kind: SeriesKind, request: Request) -> Response:
    """``GET /sessions/data_series``, ``/events/data_series``, ``/kpi/dau/data_series``."""
    admitted = await admit(api, request, (kind.permission,))
    if isinstance(admitted, Response):
        return admitted
    key, quota = admitted
    try:
        query = parse_series_query(request.query_params, api.now(), kind.units)
        event = kind.check(request.query_params, query)
    except InvalidInput as exc:
        return _braze_error(400, exc.message, [e.error for e in exc.errors], quota)
    forbidden = _app_forbidden(key, query.app_id, quota)
    if forbidden is not None:
        return forbidden
    if query.segment_id is not None and kind not in (SESSIONS, QOE):
        return _braze_error(
            400,
            "invalid parameters",
            ["segment_id applies to /sessions/data_series and /kpi/qoe/data_series only"],
            quota,
        )
    apps: tuple[str, ...] | None = (
        (query.app_id,) if query.app_id is not None else (key.apps or None)
    )
    buckets = series_buckets(query.ending_at, query.unit, query.length)
    clickhouse = api.clickhouse
    counts: list[int] | list[float | None]
    try:
        if kind.field == "sessions":
            segment_key = ""
            if query.segment_id is not None:
                found = await readable_segment(api, key, query.segment_id, quota)
                if isinstance(found, Response):
                    return found
                if found.status != READY:
                    return _braze_error(
                        503, "segment not ready",
                        [f"segment {query.segment_id} is being backfilled"], quota, 1,
                    )  # fmt: skip
                segment_key = found.key
            counts = await session_series(clickhouse, key.org_id, apps, segment_key, buckets)
        elif kind.field == "count":
            counts = await event_series(clickhouse, key.org_id, apps, event, buckets)
        elif kind.field == "viewers":
            counts = await concurrent_series(clickhouse, key.org_id, apps, buckets)
        elif kind.field == "value":
            # A segment's QoE reads its filter over the raw sessions: ready at once, no backfill.
            segment = None
            if query.segment_id is not None:
                found = await readable_segment(api, key, query.segment_id, quota)
                if isinstance(found, Response):
                    return found
                segment = found
            counts = await qoe_series(clickhouse, key.org_id, apps, event, buckets, segment)
        else:
            counts = await dau_series(clickhouse, key.org_id, apps, buckets)
    except ClickHouseUnavailable:
        return _braze_error(503, "temporarily unavailable", ["storage unavailable"], quota)
    data = [
        {"time": bucket.label, kind.field: count}
        for bucket, count in zip(buckets, counts, strict=True)
    ]
    return json_response({"message": "success", "data": data}, headers=quota.headers())


async def segment(api: ReadApi, request: Request) -> Response:
    """``PUT/GET/DELETE /segments/{segment_id}``."""
    write = request.method in ("PUT", "DELETE")
    admitted = await admit(
        api, request, (SEGMENTS_PERMISSION,) if write else (SEGMENTS_PERMISSION, SERIES_PERMISSION)
    )
    if isinstance(admitted, Response):
        return admitted
    key, quota = admitted
    segment_id = request.path_params["segment_id"]
    try:
        check_segment_id(segment_id)
        definition = (
            parse_segment_definition(await request.body()) if request.method == "PUT" else None
        )
    except InvalidInput as exc:
        return _braze_error(400, exc.message, [e.error for e in exc.errors], quota)
    segments = api.segments
    try:
        if definition is None:
            found = await readable_segment(api, key, segment_id, quota, fresh=True)
            if isinstance(found, Response):
                return found
            if request.method == "DELETE":
                await segments.delete(found)
                return Response(status_code=204, headers=quota.headers())
            body = {"message": "success", "segment": found.public()}
            return json_response(body, headers=quota.headers())
        current = await asyncio.to_thread(segments.store.get, key.org_id, segment_id)
        forbidden = _app_forbidden(key, current.app_id if current else None, quota)
        if forbidden is None and definition.app_id is None and key.apps:
            forbidden = _braze_error(
                403, "forbidden", ["key is limited to some apps: give the segment an app_id"], quota
            )
        forbidden = forbidden or _app_forbidden(key, definition.app_id, quota)
        if forbidden is not None:
            return forbidden
        try:
            defined, created = await segments.define(
                key.org_id, segment_id, definition.name, definition.app_id, definition.filter
            )
        except SegmentLimit as exc:
            return _braze_error(409, "too many segments", [str(exc)], quota)
        defined = await segments.wait_ready(defined, api.settings.segment_backfill_wait_seconds)
    except Unavailable as exc:
        return _braze_error(503, "temporarily unavailable", [str(exc)], quota, exc.retry_after)
    status = 202 if defined.status == BACKFILLING else 201 if created else 200
    body = {"message": "success", "segment": defined.public()}
    return json_response(body, status, headers=quota.headers())


STATIC = Path(__file__).resolve().parent / "static"


async def dashboard(request: Request) -> Response:
    """``GET /dashboard``: charts of the series, drawn in the browser from this API."""
    return FileResponse(STATIC / "dashboard.html", headers={"Cache-Control": "no-cache"})


async def openapi(api: ReadApi, request: Request) -> Response:
    return json_response(api.document)


def create_app(
    settings: Settings,
    clickhouse: ClickHouse,
    now: Callable[[], datetime] = utc_now,
) -> Starlette:
    """Build the read API application on a ClickHouse adapter."""
    api = ReadApi.of(settings, clickhouse, now)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(clickhouse.wait_ready)
        await asyncio.to_thread(ensure_tables, clickhouse)
        pending = asyncio.create_task(api.segments.complete_pending_forever())
        try:
            yield
        finally:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
            await api.segments.close()

    return Starlette(
        routes=[
            Route("/sessions/data_series", partial(series, api, SESSIONS), methods=["GET"]),
            Route("/events/data_series", partial(series, api, EVENTS), methods=["GET"]),
            Route("/kpi/dau/data_series", partial(series, api, DAU), methods=["GET"]),
            Route("/kpi/concurrent/data_series", partial(series, api, CONCURRENT), methods=["GET"]),
            Route("/kpi/qoe/data_series", partial(series, api, QOE), methods=["GET"]),
            Route(
                "/segments/{segment_id}", partial(segment, api), methods=["GET", "PUT", "DELETE"]
            ),
            Route("/openapi.json", partial(openapi, api), methods=["GET"]),
            Route("/dashboard", dashboard, methods=["GET"]),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            *ops_routes({"clickhouse": partial(asyncio.to_thread, clickhouse.ping)}),
        ],
        middleware=[Middleware(RequestMetrics, process="api")],
        lifespan=lifespan,
    )
