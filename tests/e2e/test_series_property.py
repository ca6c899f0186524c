"""Property: for random sessions sent through the real pipeline, any offset (multiples of 15
minutes, -12:00..+14:00), ending_at, length and unit, the API's series equals a brute-force
count over the sessions that got a 201."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body, brute_force, poll_series

APP = "rsid-property"


@pytest.fixture(scope="module")
def sent(pipeline: Pipeline) -> tuple[list[datetime], str, datetime]:
    rng = random.Random(2024)
    now = datetime.now(UTC).replace(microsecond=0)
    times = []
    with httpx.Client(base_url=pipeline.edge_url) as client:
        for _ in range(300):
            at = now - timedelta(seconds=rng.randrange(0, 24 * 3600 - 60))
            response = client.post("/api/v1/sessions", json=body(APP, int(at.timestamp() * 1000)))
            assert response.status_code == 201
            times.append(at)
    key = pipeline.create_key("--org", ORG, "--app", APP)
    end = now + timedelta(minutes=1)
    want = brute_force(times, end, "day", 2)
    params = {"length": 2, "app_id": APP, "ending_at": end.isoformat()}
    assert poll_series(pipeline.api_url + "/sessions/data_series", key, params, want) == want
    return times, key, now


OFFSETS = st.integers(-48, 56).map(lambda q: timezone(timedelta(minutes=15 * q)))


@settings(max_examples=200, deadline=None)
@given(
    offset=OFFSETS,
    back_minutes=st.integers(-24 * 60, 3 * 24 * 60),
    length=st.integers(1, 100),
    unit=st.sampled_from(["hour", "day"]),
    style=st.sampled_from(["iso", "compact", "braze"]),
)
def test_series_equals_brute_force(pipeline, sent, offset, back_minutes, length, unit, style):
    times, key, now = sent
    end = (now - timedelta(minutes=back_minutes)).astimezone(offset)
    text = end.isoformat()
    if style == "compact":
        text = text[:-3] + text[-2:] if text[-6] in "+-" else text
    elif style == "braze" and text[-5] == "0" and text[-6] in "+-":
        text = text[:-5] + text[-4:]  # -05:00 -> -5:00
    response = httpx.get(
        pipeline.api_url + "/sessions/data_series",
        params={"length": length, "unit": unit, "ending_at": text, "app_id": APP},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 200, (text, response.text)
    assert response.json()["data"] == brute_force(times, end, unit, length), text
