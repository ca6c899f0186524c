from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline, launch
from tests.services import require_services, unique_settings


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    settings = unique_settings()
    require_services(settings)
    logs: Path = tmp_path_factory.mktemp("pipeline-logs")
    running = launch(settings, logs)
    try:
        yield running
    finally:
        running.stop_all()
