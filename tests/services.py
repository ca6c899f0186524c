"""Helpers for tests that need the real Kafka broker and ClickHouse server.

Addresses come from the same ``SESSIONFLOW_*`` variables as the product. Each test gets its own
topic prefix and database, so nothing needs tearing down and runs never see each other's data.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from pathlib import Path

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
        # Ports of its own too: a pipeline running on the defaults (scripts/run) leaves the
        # suite alone.
        **{
            name: free_port()
            for name in ("edge_port", "api_port", "worker_ops_port", "sink_ops_port")
        },
    )
    base.update(overrides)
    return Settings.model_validate(base)


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A free port outside the kernel's ephemeral range.

    A port the kernel handed out (bind to 0) and released can be taken again by
    any outgoing connection (a process's Kafka client, before it binds its own
    server) — seen once in CI as EADDRINUSE. Ports outside the ephemeral range are
    only ever taken by an explicit bind.
    """
    low, high = _ephemeral_range()
    below, above = range(max(1024, low - 12_000), low), range(high + 1, 65_536)
    candidates = below if len(below) >= len(above) else above
    for _ in range(200 if candidates else 0):
        port = random.choice(candidates)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:  # no room outside the range: any port the kernel gives
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
