"""Application factories for ``--processes N``: uvicorn starts N processes on one port and
each builds its app here, from the same environment as the command that started them."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.types import ASGIApp

from sessionflow import garbage, logs
from sessionflow.settings import Settings


def _settings(process: str) -> Settings:
    logs.configure(process, os.environ.get("SESSIONFLOW_LOG_LEVEL", "INFO"))
    return Settings.from_environ(os.environ)


def edge_app(settings: Settings | None = None) -> ASGIApp:
    """One edge process (its own Kafka producer); settings from the environment unless given."""
    from producers.app import create_app
    from sessionflow.kafka import Publisher

    settings = settings or _settings("edge")
    app = create_app(settings, Publisher(settings))
    garbage.tune(settings.gc_threshold)
    return app


def api_app(settings: Settings | None = None) -> Starlette:
    """One read API process (its own ClickHouse pool and rate-limit counters)."""
    from readapi.app import create_app
    from sessionflow.clickhouse import ClickHouse

    settings = settings or _settings("api")
    app = create_app(settings, ClickHouse(settings, pool_size=8, cached_reads=True))
    garbage.tune(settings.gc_threshold)
    return app
