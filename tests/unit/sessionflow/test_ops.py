from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from sessionflow import ops
from sessionflow.errors import KafkaUnavailable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def fine() -> None:
    return None


async def down() -> None:
    raise KafkaUnavailable("kafka unreachable")


async def hangs() -> None:
    await asyncio.sleep(60)


def client(checks) -> httpx.AsyncClient:
    async def thing(request):
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/things/{thing_id}", thing), *ops.ops_routes(checks)],
        middleware=[Middleware(ops.RequestMetrics, process="unit")],
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")


async def test_ready_names_each_dependency_and_answers_503_while_one_is_down(monkeypatch):
    monkeypatch.setattr(ops, "CHECK_TIMEOUT_S", 0.05)
    async with client({"kafka": down, "clickhouse": fine, "slow": hangs}) as http:
        answer = await http.get("/ready")
        assert answer.status_code == 503
        assert answer.json() == {
            "status": "unavailable",
            "checks": {
                "kafka": "unavailable: kafka unreachable",
                "clickhouse": "ok",
                "slow": "unavailable: TimeoutError",
            },
        }
        assert (await http.get("/health")).json() == {"status": "ok"}
    async with client({"clickhouse": fine}) as http:
        assert (await http.get("/ready")).json() == {
            "status": "ready",
            "checks": {"clickhouse": "ok"},
        }


async def test_requests_are_counted_by_route_template_not_by_path():
    async with client({}) as http:
        for thing in ("a", "b", "c"):
            assert (await http.get(f"/things/{thing}")).status_code == 200
        await http.get("/nowhere")
        page = (await http.get("/metrics")).text
    assert (
        'sessionflow_http_requests_total{method="GET",process="unit",route="/things/{thing_id}",'
        'status="200"} 3.0' in page
    )
    assert 'route="/things/a"' not in page
    assert 'route="unmatched",status="404"' in page
    assert "sessionflow_http_request_duration_seconds_bucket" in page
