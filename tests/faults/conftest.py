from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.pipeline import Pipeline, launch, services
from tests.services import require_services, unique_settings


@pytest.fixture
def pipeline(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pipeline]:
    """The four processes; a module may set ``SETTINGS`` (a dict of setting overrides)."""
    settings = unique_settings(
        kafka_publish_timeout_ms=1500,
        retry_after_seconds=1,
        **getattr(request.module, "SETTINGS", {}),
    )
    require_services(settings)
    running = launch(settings, tmp_path)
    try:
        yield running
    finally:
        running.stop_all()
        # Whatever happened, leave both servers running for the tests after this one.
        services("up", "kafka")
        services("up", "clickhouse")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Servers killed mid-request leave client sockets for the collector to close; that is the
    # point of these tests, not a leak in sessionflow.
    for item in items:
        if "faults" in str(item.fspath):
            item.add_marker(pytest.mark.filterwarnings("ignore::ResourceWarning"))
            item.add_marker(
                pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
            )
