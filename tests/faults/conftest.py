from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline, launch, services
from tests.services import require_services, unique_settings


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    settings = unique_settings(kafka_publish_timeout_ms=1500, retry_after_seconds=1)
    require_services(settings)
    running = launch(settings, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()
        # Whatever happened, leave both servers running for the tests after this one.
        services("up", "kafka")
        services("up", "clickhouse")
