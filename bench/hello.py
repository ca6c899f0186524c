"""The reference for the edge benchmarks: a bare Starlette app on the same uvicorn stack that
answers POST /api/v1/sessions with 201 + Location and POST /api/v1/sessions/{sid}/events with
204, after reading the body, and nothing else."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def create(request: Request) -> Response:
    await request.body()
    return Response(status_code=201, headers={"Location": "/api/v1/sessions/hello"})


async def event(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


app = Starlette(
    routes=[
        Route("/api/v1/sessions", create, methods=["POST"]),
        Route("/api/v1/sessions/{sid}/events", event, methods=["POST"]),
    ]
)
