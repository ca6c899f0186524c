"""Property: while Kafka is up, no request body makes the edge answer 5xx (real broker)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.app import create_app
from sessionflow import sessionids
from sessionflow.kafka import Publisher, ensure_sessionflow_topics
from sessionflow.settings import Settings
from tests.services import require_services, unique_settings

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
VALID_START: dict[str, Any] = {
    "eventType": "sessionStart",
    "playerTime": {"playhead": 0, "ts": 1_700_000_000_000},
    "params": {
        "analytics.trackingServer": "t", "analytics.reportSuite": "app",
        "visitor.marketingCloudOrgId": "org", "media.id": "m", "media.playerName": "p",
        "media.channel": "c", "media.contentType": "VOD", "media.length": 1,
    },
}  # fmt: skip
KEYS = st.sampled_from(
    ["eventType", "playerTime", "params", "customMetadata", "qoeData", "extra"]
) | st.text(max_size=8)


@st.composite
def mutated_start(draw: st.DrawFn) -> Any:
    body = json.loads(json.dumps(VALID_START))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["top", "params", "playerTime"]))
        target = body if where == "top" else body.get(where)
        if not isinstance(target, dict):
            continue
        key = draw(KEYS | st.sampled_from(sorted(VALID_START["params"])))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(JSON)
    return body


BODIES = JSON | mutated_start() | st.lists(mutated_start(), max_size=3)


@pytest.fixture(scope="module")
def edge() -> Iterator[tuple[asyncio.AbstractEventLoop, httpx.AsyncClient, str]]:
    config: Settings = unique_settings(max_body_bytes=4096)
    require_services(config)
    loop = asyncio.new_event_loop()
    publisher = Publisher(config)
    loop.run_until_complete(ensure_sessionflow_topics(config))
    loop.run_until_complete(publisher.start())
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(config, publisher)), base_url="http://edge"
    )
    sid = sessionids.mint(config.session_secrets[0], 1_700_000_000_000)
    try:
        yield loop, client, sid
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(publisher.stop())
        loop.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=BODIES,
    path=st.sampled_from(["/api/v1/sessions", "/api/v1/sessions/{sid}/events", "/api/v1/downloaded"]),
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", ""]),
)  # fmt: skip
def test_no_body_gets_a_5xx(edge, body, path, content_type):
    loop, client, sid = edge
    raw = json.dumps(body).encode()
    response = loop.run_until_complete(
        client.post(path.format(sid=sid), content=raw, headers={"content-type": content_type})
    )
    assert response.status_code < 500, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    if response.status_code >= 400:
        payload = response.json()
        assert payload["message"] and isinstance(payload["errors"], list)


@settings(max_examples=100, deadline=None)
@given(raw=st.binary(max_size=300), sid=st.text(max_size=70))
def test_no_bytes_or_session_id_gets_a_5xx(edge, raw, sid):
    loop, client, _ = edge
    response = loop.run_until_complete(
        client.post(
            f"/api/v1/sessions/{quote(sid, safe='')}/events",
            content=raw,
            headers={"content-type": "application/json"},
        )
    )
    assert response.status_code < 500
