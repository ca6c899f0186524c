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


async def test_an_acknowledgement_appended_after_the_accepted_time_is_a_503() -> None:
    """The broker's append time decides, by the rule the worker and the sink apply: a record
    appended after its caller's ``accept_until_ms`` is dropped by them, so its caller is told
    503 even though Kafka took it; the other records of the batch get their offsets."""
    from aiokafka.structs import RecordMetadata, TopicPartition

    from sessionflow.acceptance import LOG_APPEND_TIME

    publisher = Publisher(Settings())
    batch = _Batch("media-events", _ClosingBuilder(16 * 1024, 0))
    far = int(time.time() * 1000) + 60_000
    late = publisher._join(batch, b"a", b"1", None, [], far, 1_000)
    fine = publisher._join(batch, b"b", b"2", None, [], far, 2_000)
    event = publisher._join(batch, b"c", b"3", None, [], far)  # not a sessionStart: no limit
    assert late is not None and fine is not None and event is not None
    tp = TopicPartition("media-events", 0)
    acked: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    acked.set_result(RecordMetadata("media-events", 0, tp, 40, 1_500, LOG_APPEND_TIME, 0))
    publisher._acknowledged(tp, batch, acked)
    with pytest.raises(Unavailable):
        await late
    assert (await fine, await event) == (41, 42)
