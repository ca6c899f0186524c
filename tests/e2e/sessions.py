"""What end-to-end tests send and expect: a valid sessionStart body, the brute-force series of
the sessions a test sent, and polling a series until the pipeline has caught up."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

ORG = "E2E0123456789@AdobeOrg"


def body(app: str, ts_ms: int) -> dict[str, Any]:
    """A valid sessionStart of ``app`` in ``ORG`` at player time ``ts_ms``."""
    return {
        "eventType": "sessionStart",
        "playerTime": {"playhead": 0, "ts": ts_ms},
        "params": {
            "analytics.trackingServer": "t.example.net", "analytics.reportSuite": app,
            "visitor.marketingCloudOrgId": ORG, "media.id": "vid", "media.playerName": "p",
            "media.channel": "c", "media.contentType": "VOD", "media.length": 30.5,
        },
    }  # fmt: skip


def brute_force(
    times: list[datetime], end: datetime, unit: str, length: int, field: str = "sessions"
) -> list[dict[str, Any]]:
    """The series a data_series request ending at ``end`` (its offset gives the buckets) must
    answer for sessions at ``times``, counted one by one."""
    zone = end.tzinfo
    assert isinstance(zone, timezone)
    local_end = end.astimezone(zone)
    if unit == "hour":
        last = local_end.replace(minute=0, second=0, microsecond=0)
        starts = [last - timedelta(hours=i) for i in range(length - 1, -1, -1)]
        width = timedelta(hours=1)
    else:
        last = local_end.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = [last - timedelta(days=i) for i in range(length - 1, -1, -1)]
        width = timedelta(days=1)
    counts: Counter[int] = Counter()
    for t in times:
        for i, s in enumerate(starts):
            if s <= t < s + width:
                counts[i] += 1
    label = (lambda s: s.isoformat()) if unit == "hour" else (lambda s: s.date().isoformat())
    return [{"time": label(s), field: counts[i]} for i, s in enumerate(starts)]


def poll_series(
    url: str, key: str, params: dict[str, Any], want: list[dict[str, Any]], timeout: float = 90
) -> list[dict[str, Any]]:
    """GET ``url`` until its data equals ``want`` or ``timeout`` passes; return the last data
    (every answer on the way must be a 200)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, params=params, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        got: list[dict[str, Any]] = response.json()["data"]
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


def poll_total(
    url: str, key: str, params: dict[str, Any], field: str, want: int, timeout: float = 90
) -> int:
    """GET ``url`` until the sum of its items' ``field`` equals ``want`` or ``timeout`` passes;
    return the last sum (every answer on the way must be a 200)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, params=params, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
        total = sum(int(item[field]) for item in response.json()["data"])
        if total == want or time.monotonic() > deadline:
            return total
        time.sleep(0.5)
