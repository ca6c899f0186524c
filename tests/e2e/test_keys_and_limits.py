"""Keys and limits on the running API: rate limiting with headers and 429, revocation within
seconds, key listing without secrets, and answers built from aggregates alone."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx

from sessionflow.clickhouse import ClickHouse
from sessionflow.totals import settle_range
from tests.e2e.pipeline import Pipeline

URL = "/sessions/data_series"


def cli(pipeline: Pipeline, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "sessionflow_cli", "keys", *args],
        env=pipeline.env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_rate_limit_headers_and_429(pipeline: Pipeline):
    key = pipeline.create_key("--org", "limits-org", "--rate-limit", "3")
    auth = {"Authorization": f"Bearer {key}"}
    answers = [
        httpx.get(pipeline.api_url + URL, params={"length": 1}, headers=auth) for _ in range(4)
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == "3" for a in answers)
    reset = int(answers[-1].headers["X-RateLimit-Reset"])
    assert time.time() < reset <= time.time() + 3600
    assert answers[-1].json()["errors"] and int(answers[-1].headers["Retry-After"]) >= 1
    # a 401 is not charged to any key but carries the headers too
    bad = httpx.get(
        pipeline.api_url + URL, params={"length": 1}, headers={"Authorization": "Bearer x"}
    )
    assert bad.status_code == 401 and "X-RateLimit-Reset" in bad.headers


def test_revocation_takes_effect_within_seconds(pipeline: Pipeline):
    key = pipeline.create_key("--org", "revoke-org")
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(pipeline.api_url + URL, params={"length": 1}, headers=auth).status_code == 200
    listed = cli(pipeline, "list", "--org", "revoke-org")
    assert key not in listed
    key_id = listed.split()[0]
    cli(pipeline, "revoke", key_id)
    revoked_at = time.monotonic()
    while httpx.get(pipeline.api_url + URL, params={"length": 1}, headers=auth).status_code == 200:
        assert time.monotonic() - revoked_at < 5, "revocation must apply within seconds"
        time.sleep(0.2)
    assert "revoked" in cli(pipeline, "list", "--org", "revoke-org")


def test_answers_come_from_aggregates_alone(pipeline: Pipeline):
    """Count rows written straight into session_counts, with no raw session behind them, and
    settled as every writer of them does, are what the API answers: it never scans raw
    sessions."""
    db = pipeline.settings.clickhouse_database
    start = datetime(2025, 3, 1, 10, tzinfo=UTC)
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    try:
        clickhouse.insert(
            "session_counts",
            ("org_id", "app_id", "segment_id", "unit", "bucket_start", "source_partition",
             "count", "version"),
            [("agg-org", "agg-app", "", "hour", start, 0, 7, 2),
             ("agg-org", "agg-app", "", "hour", start, 0, 5, 1),  # older version: ignored
             ("agg-org", "agg-app", "", "hour", start, 1, 4, 9),  # other partition: summed
             ("agg-org", "agg-app", "", "day", start.replace(hour=0), 0, 11, 2)],
        )  # fmt: skip
        day_s = int(start.replace(hour=0).timestamp())
        settle_range(clickhouse, day_s, day_s + 86400, "agg-org")
        assert clickhouse.execute(
            f"SELECT count() FROM {db}.sessions WHERE org_id = 'agg-org'"
        ) == [(0,)]
    finally:
        clickhouse.close()
    key = pipeline.create_key("--org", "agg-org")
    auth = {"Authorization": f"Bearer {key}"}
    end = (start + timedelta(minutes=59)).isoformat()
    hours = httpx.get(
        pipeline.api_url + URL, params={"length": 2, "unit": "hour", "ending_at": end}, headers=auth
    )
    assert [d["sessions"] for d in hours.json()["data"]] == [0, 11]
    days = httpx.get(
        pipeline.api_url + URL, params={"length": 1, "ending_at": "2025-03-01"}, headers=auth
    )
    assert days.json()["data"] == [{"time": "2025-03-01", "sessions": 11}]
