import asyncio
from typing import Any

import faust

from streams.durability import BUFFERED_TABLE_UPDATES, DurableProducer


def producer() -> Any:
    app = faust.App("durability-test", broker="kafka://127.0.0.1:1")
    app.transport.Producer = DurableProducer  # type: ignore[misc]
    made = app.producer
    assert isinstance(made, DurableProducer)
    return made


def test_records_flow_on_while_the_buffer_has_room_and_wait_once_it_is_full() -> None:
    made = producer()
    buffer = made.buffer
    flushed: list[int | None] = []

    async def flush_atmost(n: int | None) -> int:  # Faust's wait for the buffer to ebb
        flushed.append(n)
        while buffer.pending.qsize():
            buffer.pending.get_nowait()
        return 0

    buffer.flush_atmost = flush_atmost

    async def fill_and_wait(messages: int) -> None:
        for n in range(messages):
            buffer.pending.put_nowait(n)
        await buffer.wait_until_ebb()

    asyncio.run(fill_and_wait(BUFFERED_TABLE_UPDATES))
    assert flushed == [] and buffer.pending.qsize() == BUFFERED_TABLE_UPDATES
    asyncio.run(fill_and_wait(1))
    assert flushed == [BUFFERED_TABLE_UPDATES] and buffer.pending.qsize() == 0
