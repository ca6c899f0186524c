"""The ClickHouse adapter: a small pool of native-protocol clients run off the event loop,
with clickhouse-driver's errors translated into ``ClickHouseUnavailable``.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError
from clickhouse_driver.errors import (
    NetworkError,
    ServerException,
    SocketTimeoutError,
    UnexpectedPacketFromServerError,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from sessionflow import metrics
from sessionflow.errors import ClickHouseRejected, ClickHouseUnavailable
from sessionflow.settings import Settings

logger = logging.getLogger(__name__)

Row = tuple[Any, ...]

# Server error codes that say "not now" rather than "never": the same statement may succeed later.
TRANSIENT_SERVER_CODES = frozenset({
    60,   # UNKNOWN_TABLE (a server still loading, a table being re-created)
    81,   # UNKNOWN_DATABASE (idem)
    159,  # TIMEOUT_EXCEEDED
    164,  # READONLY
    202,  # TOO_MANY_SIMULTANEOUS_QUERIES
    203,  # NO_FREE_CONNECTION
    209,  # SOCKET_TIMEOUT
    210,  # NETWORK_ERROR
    236,  # ABORTED
    241,  # MEMORY_LIMIT_EXCEEDED
    242,  # TABLE_IS_READ_ONLY
    252,  # TOO_MANY_PARTS
    319,  # UNKNOWN_STATUS_OF_INSERT
})  # fmt: skip


def translate(exc: BaseException, what: str) -> Exception:
    """clickhouse-driver's (or the socket's) error as ours: ``ClickHouseUnavailable`` when
    trying again later may work, ``ClickHouseRejected`` when the statement or its data is at
    fault (a server error such as a syntax or size error, or data the driver cannot encode)."""
    if isinstance(exc, ServerException):
        if exc.code in TRANSIENT_SERVER_CODES:
            return ClickHouseUnavailable(f"clickhouse {what} failed: {exc}")
        return ClickHouseRejected(f"clickhouse {what} refused: {exc}", exc.code)
    if isinstance(
        exc,
        (OSError, EOFError, NetworkError, SocketTimeoutError, UnexpectedPacketFromServerError),
    ):
        return ClickHouseUnavailable(f"clickhouse {what} failed: {exc}")
    return ClickHouseRejected(f"clickhouse {what} refused: {exc!r}", getattr(exc, "code", None))


class ClickHouse:
    """Blocking ``execute``/``insert`` and their async twins ``aexecute``/``ainsert``."""

    def __init__(
        self,
        settings: Settings,
        pool_size: int = 4,
        database: str | None = None,
        cached_reads: bool = False,
    ) -> None:
        """``cached_reads``: queries read decompressed blocks from the server's cache
        (``use_uncompressed_cache``), for a process of many small reads (the read API); scans of
        over a million rows bypass it, as ClickHouse decides."""
        self._settings = settings
        self._client_settings: dict[str, Any] = {"use_numpy": False}
        if cached_reads:
            self._client_settings["use_uncompressed_cache"] = 1
        self.database = database if database is not None else settings.clickhouse_database
        self._pool: queue.LifoQueue[Client] = queue.LifoQueue()
        for _ in range(pool_size):
            self._pool.put(self._new_client())

    def _new_client(self) -> Client:
        return Client(
            host=self._settings.clickhouse_host,
            port=self._settings.clickhouse_port,
            user=self._settings.clickhouse_user,
            password=self._settings.clickhouse_password,
            connect_timeout=5,
            send_receive_timeout=30,
            settings=self._client_settings,
        )

    @contextmanager
    def _client(self) -> Iterator[Client]:
        client = self._pool.get()
        try:
            yield client
        except BaseException:
            client.disconnect()
            raise
        finally:
            self._pool.put(client)

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        """Run one statement and return its rows."""
        with self._client() as client:
            try:
                rows = client.execute(sql, params) if params else client.execute(sql)
                return list(rows)
            except (DriverError, OSError, EOFError) as exc:
                raise translate(exc, "query") from exc

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert ``rows`` into ``table`` as one block (one INSERT statement; the rows travel
        as native blocks, so the statement's size does not grow with them).

        The rows go to the driver as columns, transposed by ``zip``: given rows, the driver
        builds each column with a Python loop over them (a third of the sink's insert time)."""
        if not rows:
            return
        sql = f"INSERT INTO {self.database}.{table} ({', '.join(columns)}) VALUES"
        started = time.perf_counter()
        with self._client() as client:
            try:
                client.execute(sql, list(zip(*rows, strict=True)), columnar=True)
            except (DriverError, OSError, EOFError, ValueError, TypeError, OverflowError) as exc:
                raise translate(exc, "insert") from exc
        metrics.CLICKHOUSE_INSERT_LATENCY.labels(table).observe(time.perf_counter() - started)
        metrics.CLICKHOUSE_ROWS.labels(table).inc(len(rows))

    def ping(self) -> None:
        """Return once the server answers a query; ``ClickHouseUnavailable`` otherwise."""
        self.execute("SELECT 1")

    async def aexecute(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        return await asyncio.to_thread(self.execute, sql, params)

    async def ainsert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        await asyncio.to_thread(self.insert, table, columns, rows)

    def wait_ready(self, wait_s: float = 60.0) -> None:
        """Block until the server answers ``SELECT 1`` (or ``wait_s`` passed)."""
        for attempt in Retrying(
            stop=stop_after_delay(wait_s),
            wait=wait_fixed(0.5),
            retry=retry_if_exception_type(ClickHouseUnavailable),
            reraise=True,
        ):
            with attempt:
                self.execute("SELECT 1")

    def close(self) -> None:
        while not self._pool.empty():
            self._pool.get_nowait().disconnect()
