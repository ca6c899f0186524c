from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessionflow.clickhouse import ClickHouse
from sessionflow.settings import Settings
from sessionflow.tables import ensure_tables
from tests.services import require_services, unique_settings


@pytest.fixture
def settings() -> Settings:
    s = unique_settings()
    require_services(s)
    return s


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clickhouse(settings: Settings) -> Iterator[ClickHouse]:
    """A ClickHouse adapter on the test's own database, tables created."""
    adapter = ClickHouse(settings, pool_size=1)
    ensure_tables(adapter)
    yield adapter
    adapter.close()
