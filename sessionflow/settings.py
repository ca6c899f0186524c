"""Typed settings: one object per process, built once from the environment in the CLI.

Every setting is read from ``SESSIONFLOW_<NAME>`` (e.g. ``SESSIONFLOW_KAFKA_BOOTSTRAP``). Nothing
reads the environment at import time; tests build ``Settings`` from a plain mapping.
"""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

logger = logging.getLogger(__name__)

ENV_PREFIX = "SESSIONFLOW_"
DEV_SESSION_SECRET = "sessionflow-dev-secret-change-me"


class Settings(BaseModel):
    """Everything a sessionflow process may be configured with."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Kafka
    kafka_bootstrap: str = "localhost:9092"
    topic_prefix: str = "sessionflow."
    topic_partitions: int = Field(default=4, ge=1)
    kafka_publish_timeout_ms: int = Field(default=5000, ge=100)
    # Largest record batch the edge's producer builds (records waiting for one partition go
    # out together); under the broker's default message.max.bytes (1 MiB).
    kafka_max_batch_bytes: int = Field(default=512 * 1024, ge=16 * 1024, le=1024 * 1024)
    # How long the edge producer's open record batches wait for more records after the oldest
    # of them opened before they are sent together, unless one already holds
    # ``kafka_batch_ready_bytes`` (``sessionflow.kafka.Publisher``).
    kafka_linger_ms: int = Field(default=20, ge=0, le=1000)
    kafka_batch_ready_bytes: int = Field(default=4096, ge=0)
    # ClickHouse
    clickhouse_host: str = "localhost"
    clickhouse_port: int = 9000
    clickhouse_database: str = "sessionflow"
    clickhouse_user: str = "default"
    clickhouse_password: str = ""
    # Collection edge
    edge_host: str = "127.0.0.1"
    edge_port: int = 8080
    session_secrets: tuple[str, ...] = (DEV_SESSION_SECRET,)
    session_lifetime_ms: int = 24 * 3600 * 1000
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    retry_after_seconds: int = Field(default=2, ge=1)
    # How long the edge and the API keep an idle HTTP connection open. Longer than a player's
    # 10 s ping interval, so that a viewer keeps its connection instead of opening one per
    # ping (uvicorn's default is 5 s).
    http_keep_alive_s: int = Field(default=75, ge=1)
    # read API
    api_host: str = "127.0.0.1"
    api_port: int = 8081
    rate_limit_per_hour: int = Field(default=250_000, ge=1)
    key_cache_seconds: float = Field(default=2.0, ge=0)
    # How long a read API process serves a segment as it last read it: a change made through
    # another API process (redefinition, deletion, backfill done) shows there within this.
    segment_cache_seconds: float = Field(default=2.0, ge=0)
    segments_per_app: int = Field(default=25, ge=1)
    segment_backfill_wait_seconds: float = Field(default=10.0, ge=0)
    # Worker and sink
    # The worker's static consumer-group membership (Kafka's group.instance.id): a worker
    # restarted under the same id gets its partitions back at once, instead of after the
    # group's session timeout. Unique per worker; empty: "<hostname>:<worker_ops_port>".
    worker_id: str = ""
    sink_group: str = "sessionflow-sink"
    sink_batch_max: int = Field(default=5000, ge=1)
    sink_batch_wait_ms: int = Field(default=200, ge=1)
    # Once records arrive the sink gathers more for this long (or up to sink_batch_max):
    # ClickHouse pays per insert (a part per table and view, merged later), so a few large
    # inserts a second cost it far less than one per fetched handful. Adds to freshness.
    sink_batch_linger_ms: int = Field(default=500, ge=0)
    # Counts (what data_series reads) are stored batch by batch; events, sessions and QoE
    # summaries are held and stored together at most this often (or once sink_store_max
    # records are held): every insert makes a part in the table and in each of its views, and
    # ClickHouse merges a small table's parts again at almost every insert (bench/
    # clickhouse_merges.py). Their offsets are committed once they are stored.
    sink_store_interval_ms: int = Field(default=2000, ge=0)
    # A held record costs the sink ~2-3 KB of RSS at its store (record, decoded, row, column);
    # behind a backlog batches are full anyway, and holding 50,000 stored no faster than
    # storing each batch of 5,000 (bench/worker.py --process sink) for 100-170 MB more.
    sink_store_max: int = Field(default=10_000, ge=1)
    # A fetch of the sink's and the worker's consumers waits on the broker until this much data
    # is there, or at most ``consumer_fetch_max_wait_ms``. Kafka's default (1 byte) answers as
    # soon as one record is: under a live stream each consumer then sent a fetch for every few
    # records, and fetching took about a sixth of the worker's CPU and a fifth of the sink's
    # (README, the worker's hot path (7)).
    consumer_fetch_min_bytes: int = Field(default=256 * 1024, ge=1)
    consumer_fetch_max_wait_ms: int = Field(default=100, ge=0)
    window_expires_days: float = Field(default=4.0, gt=1.0)
    # QoE: a session without an event for this long (edge receive time) is closed
    qoe_idle_close_ms: int = Field(default=10 * 60 * 1000, ge=1000)
    # ... and idle sessions are closed at most this many per record processed: after a quiet
    # spell every open session is idle at once, and closing them all before the next record
    # held counting for seconds (166,000 sessions: 13 s)
    qoe_close_slice: int = Field(default=1000, ge=1)
    # Sessions each process keeps in memory: the edge their partition (Kafka's murmur2 of the
    # key), the worker their QoE state, the sink their org and app (an event carries neither).
    # Size it for the largest audience watching at once plus the sessions closed in the last
    # few minutes; past it the oldest are looked up again (slower, still exact). Memory grows
    # with it until it is full (~0.3 KB a session in the edge, ~0.4 KB in the sink, ~0.5 KB
    # in the worker; tracemalloc), then stays flat.
    session_cache_size: int = Field(default=100_000, ge=1000)
    # Python's cyclic garbage collector runs once this many more objects were allocated than
    # freed (CPython's default: 700; ``sessionflow.garbage``).
    gc_threshold: int = Field(default=20_000, ge=100)
    # Operations: /health, /ready and /metrics of the worker and the sink (the edge and the
    # read API serve them on their own port)
    ops_host: str = "127.0.0.1"
    worker_ops_port: int = 8082
    sink_ops_port: int = 8083
    # The worker's table store: "rocksdb" (local files under state_dir, so a restart replays
    # only the changelog written since) or "memory" (a restart replays the whole changelogs).
    worker_store: Literal["rocksdb", "memory"] = "rocksdb"
    # Memory every RocksDB table database of one worker shares (half block cache with index
    # and filter blocks, half memtables), whatever its partition count (``streams.rocksdb``).
    worker_rocksdb_memory_mb: int = Field(default=64, ge=8)
    # Where processes keep local state (the worker's RocksDB tables): never the working
    # directory. The tables live in Kafka changelogs too; this folder may be wiped (the next
    # start then replays the changelogs).
    state_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()) / "sessionflow")

    @field_validator("session_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("session_secrets")
    @classmethod
    def _need_one_secret(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one session secret is required")
        return value

    @property
    def worker_instance_id(self) -> str:
        return self.worker_id or f"{socket.gethostname()}:{self.worker_ops_port}"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from ``SESSIONFLOW_*`` variables of ``environ``; others are ignored."""
        values = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in environ.items()
            if key.startswith(ENV_PREFIX)
        }
        settings = cls.model_validate(values)
        if DEV_SESSION_SECRET in settings.session_secrets:
            logger.warning("SESSIONFLOW_SESSION_SECRETS is not set: using the development secret")
        return settings
