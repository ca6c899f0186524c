"""Helpers for tests that need the real Kafka broker and ClickHouse server.

Addresses come from the same ``SESSIONFLOW_*`` variables as the product. Each test gets its own
topic prefix and database, so nothing needs tearing down and runs never see each other's data.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from sessionflow.settings import Settings


def _reachable(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=2):
            return True
    except OSError:
        return False


def require_services(settings: Settings) -> None:
    """Fail (never skip) when the servers are not running: scripts/test starts them."""
    missing = [
        name
        for name, address in (
            ("Kafka", settings.kafka_bootstrap.split(",")[0]),
            ("ClickHouse", f"{settings.clickhouse_host}:{settings.clickhouse_port}"),
        )
        if not _reachable(address)
    ]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not reachable: run scripts/services up")


def unique_settings(**overrides: object) -> Settings:
    """Settings on the real services with a fresh topic prefix and database."""
    tag = uuid.uuid4().hex[:10]
    base = Settings.from_environ(os.environ).model_dump()
    base.update(
        topic_prefix=f"test-{tag}.",
        clickhouse_database=f"test_{tag}",
        sink_group=f"test-{tag}-sink",
        session_secrets=("test-secret",),
        topic_partitions=3,
    )
    base.update(overrides)
    return Settings.model_validate(base)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
