"""The operations surface every process serves: ``GET /health`` (liveness: the process answers),
``GET /ready`` (200 once every dependency answers, 503 naming the one that does not) and
``GET /metrics`` (Prometheus text format, ``sessionflow.metrics``).

The edge and the read API add these routes to their own app; the worker and the sink, which
have no HTTP API, serve them on their ops port with ``serve_ops``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any

import uvicorn
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sessionflow import metrics
from sessionflow.http import json_response

logger = logging.getLogger(__name__)

# A readiness check: returns when the dependency answers, raises when it does not.
Check = Callable[[], Awaitable[object]]
CHECK_TIMEOUT_S = 2.0


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


async def ready(checks: Mapping[str, Check], request: Request) -> Response:
    """200 ``{"status": "ready"}`` when every check passes, else 503 with each failure."""

    async def run(check: Check) -> str:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                await check()
        except Exception as exc:  # a readiness probe reports any failure, never raises
            return f"unavailable: {str(exc) or type(exc).__name__}"
        return "ok"

    names = list(checks)
    results = dict(zip(names, await asyncio.gather(*(run(checks[n]) for n in names)), strict=True))
    ok = all(result == "ok" for result in results.values())
    body = {"status": "ready" if ok else "unavailable", "checks": results}
    return json_response(body, 200 if ok else 503)


def _registry() -> CollectorRegistry:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:  # several processes behind one port
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


async def metrics_page(request: Request) -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def ops_routes(checks: Mapping[str, Check]) -> list[Route]:
    """``/health``, ``/ready`` (running ``checks``) and ``/metrics``."""

    async def ready_endpoint(request: Request) -> Response:
        return await ready(checks, request)

    return [
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready_endpoint, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]


class RouteMetrics:
    """Counts and times a process's requests by route template (not by path: a session id in
    the path would make one series per session), on metric series looked up once each."""

    def __init__(self, process: str) -> None:
        self.process = process
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def record(self, route: str, method: str, status: int, seconds: float) -> None:
        series = self._series.get((route, method, status))
        if series is None:
            series = self._series[(route, method, status)] = (
                metrics.HTTP_REQUESTS.labels(self.process, route, method, str(status)),
                metrics.HTTP_LATENCY.labels(self.process, route, method),
            )
        series[0].inc()
        series[1].observe(seconds)


class RequestMetrics:
    """ASGI middleware: ``RouteMetrics`` for every request of ``app``."""

    def __init__(self, app: ASGIApp, process: str) -> None:
        self.app = app
        self.metrics = RouteMetrics(process)

    @staticmethod
    def _route(scope: Scope) -> str:
        # Starlette's router records the route it picked in the (shared) scope.
        route = scope.get("route")
        return str(getattr(route, "path", "?")) if route is not None else "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.record(
                self._route(scope), scope["method"], status, time.perf_counter() - started
            )


class _QuietServer(uvicorn.Server):
    """uvicorn inside a process that owns its signals (Faust, the sink loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class OpsServer:
    """``/health``, ``/ready`` and ``/metrics`` on their own port, in the running loop."""

    def __init__(self, host: str, port: int, checks: Mapping[str, Check]) -> None:
        app = Starlette(routes=ops_routes(checks))
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = _QuietServer(config)
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(1000):  # up to 10 s
            if self._server.started or self._task.done():
                break
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()  # it could not serve (port taken): say so
        config = self._server.config
        logger.info("ops endpoints on http://%s:%d", config.host, config.port)

    async def stop(self) -> None:
        if self._task is not None:
            self._server.should_exit = True
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
