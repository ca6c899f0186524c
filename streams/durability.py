"""A Faust producer that never lets the worker commit past a lost write.

Faust flushes its producer before it commits source offsets, but a flush also "succeeds" when a
batch failed (a broker restart expires it): the changelog would then miss a state update whose
source record is committed, and a restart would restore a count without it. This producer
remembers any failed send and, at the next flush (the step right before a commit), stops the
process at once instead. The supervisor restarts the worker, which restores its tables from
the changelog and replays from the last commit, so no increment is lost or doubled. The
write-back's changelog batches (``streams.changelog``), sent by a flush hook or when partitions
are revoked, stop it the same way when Kafka refuses them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from faust.transport.drivers.aiokafka import Producer

logger = logging.getLogger(__name__)

EXIT_LOST_WRITE = 75  # EX_TEMPFAIL: restart me
BUFFERED_TABLE_UPDATES = 10_000


class DurableProducer(Producer):
    """Faust's aiokafka producer, failing fast on any record Kafka did not take."""

    failure: BaseException | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Called at the start of every flush, i.e. before every offset commit: the worker sends
        # its coalesced count updates there, so none is committed past without being written.
        self.before_flush: list[Callable[[], Awaitable[None]]] = []
        # Faust pauses the stream whenever more than 100 table updates wait to be sent ("producer
        # buffer full", hundreds of times in a catch-up) and then waits for them one by one.
        # A deeper buffer lets the agent run on while aiokafka batches them.
        self.buffer.max_messages = BUFFERED_TABLE_UPDATES

    async def send(self, *args: Any, **kwargs: Any) -> Any:
        future = await super().send(*args, **kwargs)
        if isinstance(future, asyncio.Future):
            future.add_done_callback(self._remember_failure)
        return future

    def _remember_failure(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            self.failure = asyncio.CancelledError("send cancelled")
        elif future.exception() is not None:
            self.failure = future.exception()

    async def flush(self) -> None:
        for hook in self.before_flush:
            try:
                await hook()
            except Exception as exc:  # a write the hook sent itself (the write-back) failed
                self.failure = exc
                break
        await super().flush()
        await asyncio.sleep(0)  # let the done-callbacks of the flushed batches run
        if self.failure is not None:
            lost_write(self.failure)


def lost_write(failure: BaseException) -> NoReturn:
    """Stop the process at once: a write was lost and no offset may be committed past it."""
    logger.critical("a record was not written (%r); exiting before committing offsets", failure)
    logging.shutdown()
    os._exit(EXIT_LOST_WRITE)
