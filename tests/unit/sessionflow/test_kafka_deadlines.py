"""The edge's publisher answers every caller by its deadline while Kafka takes nothing: a batch
that is never written stays open, and a record that joins it after every earlier caller's
deadline passed must still get its 503 (found in the broker-outage fault test: such a request
waited until the client gave up)."""

from __future__ import annotations

import asyncio
import time

import pytest

from sessionflow.errors import Unavailable
from sessionflow.kafka import Publisher, _Batch, _ClosingBuilder
from sessionflow.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def soon_ms() -> int:
    return int(time.time() * 1000) + 20


async def test_a_record_joining_a_stuck_batch_after_the_others_expired_still_gets_its_503() -> None:
    publisher = Publisher(Settings())
    batch = _Batch("media-events", _ClosingBuilder(16 * 1024, 0))
    first = publisher._join(batch, b"session", b"1", None, [], soon_ms())
    publisher._arm(batch)  # what submitting the batch to aiokafka does; Kafka never answers
    with pytest.raises(Unavailable):
        await asyncio.wait_for(first, 2)
    late = publisher._join(batch, b"session", b"2", None, [], soon_ms())
    assert late is not None  # the batch was never written: it still takes records
    with pytest.raises(Unavailable):
        await asyncio.wait_for(late, 2)
    assert batch.timer is None  # nobody left to answer
