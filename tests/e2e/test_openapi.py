"""Both HTTP APIs serve an OpenAPI document that matches their behaviour: schemathesis runs
every check against the live processes (real Kafka and ClickHouse behind them), and the edge
also against Adobe's published Swagger contract of the collection API.

The edge's runs post their events to a session the edge really started (schemathesis's
``[parameters]``): with a made-up ``sid`` every event got a 404 and the events route, nearly
all of a player's traffic, had its bodies checked against nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from sessionflow import players
from tests.e2e.pipeline import Pipeline

# schemathesis sends one request at a time: a produce linger would only make each wait for it
# (22,000 requests); the HTTP contract does not depend on it.
SETTINGS = {"kafka_linger_ms": 0}

# A copy of shared/reference/adobe-media-collection.swagger.json (Adobe's condensed contract).
ADOBE_SWAGGER = Path(__file__).parents[1] / "data" / "adobe-media-collection.swagger.json"


def schemathesis(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert binary, "schemathesis is a dev dependency"
    configured = ["--config-file", str(config)] if config else []
    return subprocess.run(
        [binary, *configured, "run", *args, "--no-color", "--seed", "20261122",
         "--generation-deterministic"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def started_session(pipeline: Pipeline, tmp_path: Path) -> Path:
    """A schemathesis config naming a session the edge started (and a real event type)."""
    body = players.session_start("openapi@AdobeOrg", "openapi-app", int(time.time() * 1000))
    answer = httpx.post(pipeline.edge_url + "/api/v1/sessions", json=body)
    assert answer.status_code == 201, answer.text
    sid = answer.headers["Location"].rsplit("/", 1)[1]
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\n"path.sid" = "{sid}"\n"path.eventType" = "ping"\n')
    return config


def test_edge_matches_its_openapi(pipeline: Pipeline, tmp_path: Path):
    assert httpx.get(pipeline.edge_url + "/openapi.json").json()["openapi"].startswith("3.1")
    done = schemathesis(
        pipeline.edge_url + "/openapi.json", "-n", "25", "--checks", "all",
        config=started_session(pipeline, tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:]
    assert "Missing test data" not in done.stdout, done.stdout[-3000:]


def test_analytics_api_matches_its_openapi(pipeline: Pipeline):
    key = pipeline.create_key("--org", "openapi-org")
    done = schemathesis(
        pipeline.api_url + "/openapi.json", "-n", "40", "--checks", "all",
        # A string that is no calendar date (2021-02-30) is schema-valid for any JSON Schema
        # we could write, and rightly a 400: that one check cannot hold for ending_at.
        "--exclude-checks", "positive_data_acceptance",
        "-H", f"Authorization: Bearer {key}",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:]


def test_edge_conforms_to_adobes_swagger(pipeline: Pipeline, tmp_path: Path):
    done = schemathesis(
        str(ADOBE_SWAGGER), "--url", pipeline.edge_url + "/api/v1", "-n", "25",
        "--checks", "not_a_server_error", config=started_session(pipeline, tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:]
