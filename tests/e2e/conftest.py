from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline, launch
from tests.services import require_services, unique_settings


@pytest.fixture(scope="module")
def pipeline(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    """The four processes for one test module; a module may set ``SETTINGS`` (a dict of
    setting overrides)."""
    settings = unique_settings().model_copy(update=getattr(request.module, "SETTINGS", {}))
    require_services(settings)
    logs: Path = tmp_path_factory.mktemp("pipeline-logs")
    running = launch(settings, logs)
    try:
        yield running
    finally:
        running.stop_all()
