import asyncio
from collections.abc import Iterator
from typing import Any

import faust
import pytest

from streams.delivery import InlineDeliveryConsumer, fetch_at_least, first_step, handle_directly

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def immediate(value: int) -> int:
    return value * 2


async def waits_on(future: asyncio.Future[int], then: list[str]) -> int:
    then.append("started")
    value = await future
    then.append("resumed")
    await asyncio.sleep(0)  # a bare yield too
    return value + 1


async def test_a_coroutine_that_does_not_wait_completes_inline() -> None:
    assert first_step(immediate(21)) == (True, 42)


async def test_the_rest_of_a_waiting_coroutine_runs_in_a_task() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    seen: list[str] = []
    completed, rest = first_step(waits_on(future, seen))
    assert not completed and seen == ["started"]
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    assert not task.done()
    future.set_result(9)
    assert await task == 10
    assert seen == ["started", "resumed"]


async def test_a_failed_future_raises_inside_the_coroutine() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def catches() -> str:
        try:
            await future
        except ValueError as exc:
            return f"caught {exc}"
        return "not raised"

    _, rest = first_step(catches())
    task = asyncio.ensure_future(rest)
    future.set_exception(ValueError("boom"))
    assert await task == "caught boom"


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    cleaned: list[str] = []

    async def holds() -> None:
        try:
            await future
        finally:
            cleaned.append("finally")

    _, rest = first_step(holds())
    task = asyncio.ensure_future(rest)
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["finally"]


def record(topic: str = "media-events", offset: int = 5, generation: int = 0) -> Any:
    from faust.types.tuples import Message

    return Message(topic, 1, offset, 1.0, 1, [], b"k", b"v", None, generation_id=generation)


@pytest.fixture
def direct() -> Iterator[tuple[InlineDeliveryConsumer, list[str], Any]]:
    """A consumer (never started) handing media-events to a handler that notes what it got;
    the other topics go to a stand-in for Faust's conductor that notes theirs."""
    app = faust.App("direct-test", broker="kafka://127.0.0.1:1")
    seen: list[str] = []

    async def handler(message: Any) -> None:
        seen.append(f"handled {message.offset}")

    app.topics.add(app.topic("media-events"))
    app.topics._acking_topics.add("media-events")  # as subscribing to it does
    handle_directly(app, "media-events", handler)
    app.transport.Consumer = InlineDeliveryConsumer  # type: ignore[misc]
    made = app.consumer
    assert isinstance(made, InlineDeliveryConsumer)

    async def conduct(message: Any) -> None:
        seen.append(f"conducted {message.topic}")

    made._conduct = conduct
    app.flow_control.resume()
    yield made, seen, app
    made._thread.thread_loop.close()


def held_until(made: InlineDeliveryConsumer, seen: list[str]) -> asyncio.Future[None]:
    """Give media-events a handler that notes when it begins, then waits for the future
    returned, then notes its end."""
    release: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def slow(message: Any) -> None:
        seen.append("began")
        await release
        seen.append("ended")

    made._handlers["media-events"] = slow
    return release


async def test_a_handled_topics_record_is_handled_then_acknowledged(direct: Any) -> None:
    made, seen, _ = direct
    message = record()
    await made.wait_first(made.callback(message), made.suspend_flow.wait())
    await made.wait_first(made.callback(record("other")), made.suspend_flow.wait())
    assert seen == ["handled 5", "conducted other"]
    assert message.acked and message not in made.unacked


async def test_a_record_fetched_before_a_rebalance_is_skipped_as_faust_skips_it(
    direct: Any,
) -> None:
    made, seen, app = direct
    stale = record(generation=app.consumer_generation_id - 1)
    await made.wait_first(made.callback(stale), made.suspend_flow.wait())
    app.flow_control.suspend()
    stopped = record(offset=6)
    await made.wait_first(made.callback(stopped), made.suspend_flow.wait())
    assert seen == [] and stale.acked and stopped.acked


async def test_a_waiting_handler_runs_to_its_end_though_the_flow_is_suspended_meanwhile(
    direct: Any,
) -> None:
    made, seen, _ = direct
    release = held_until(made, seen)
    message = record()
    delivery = asyncio.ensure_future(
        made.wait_first(made.callback(message), made.suspend_flow.wait())
    )
    await asyncio.sleep(0)
    assert seen == ["began"] and message in made.unacked  # a rebalance waits for it
    made.suspend_flow.set()
    await asyncio.sleep(0)
    release.set_result(None)
    await delivery
    assert seen == ["began", "ended"] and message.acked


async def test_a_record_whose_handler_fails_is_never_acknowledged(direct: Any) -> None:
    made, _, _ = direct

    async def fails(message: Any) -> None:
        raise RuntimeError("boom")

    made._handlers["media-events"] = fails
    message = record()
    with pytest.raises(RuntimeError):
        await made.wait_first(made.callback(message), made.suspend_flow.wait())
    assert not message.acked and message not in made.unacked


async def test_a_handler_has_its_record_where_faust_tables_look_for_it(direct: Any) -> None:
    made, _, _ = direct
    in_hand: list[Any] = []

    async def writes_a_table(message: Any) -> None:  # Faust's tables read current_event()
        in_hand.append(faust.current_event().message)  # type: ignore[union-attr]

    made._handlers["media-events"] = writes_a_table
    message = record()
    await made.wait_first(made.callback(message), made.suspend_flow.wait())
    assert in_hand == [message]


async def test_a_handler_given_after_the_consumer_is_made_is_used(direct: Any) -> None:
    made, seen, app = direct

    async def late(message: Any) -> None:
        seen.append(f"late {message.topic}")

    handle_directly(app, "markers", late)
    await made.wait_first(made.callback(record("markers")), made.suspend_flow.wait())
    assert seen == ["late markers"]


async def test_a_record_arriving_while_the_flow_is_suspended_is_never_raced(direct: Any) -> None:
    """Flow control still active (only the consumer's flow suspended): the handler begins, and
    it runs to its end, though the suspension would win Faust's race at once."""
    made, seen, _ = direct
    release = held_until(made, seen)
    made.suspend_flow.set()
    message = record()
    delivery = asyncio.ensure_future(
        made.wait_first(made.callback(message), made.suspend_flow.wait())
    )
    await asyncio.sleep(0.01)
    assert seen == ["began"] and not delivery.done()
    release.set_result(None)
    await delivery
    assert seen == ["began", "ended"] and message.acked


async def test_a_record_arriving_while_the_flow_is_stopped_is_skipped(direct: Any) -> None:
    made, seen, app = direct
    made.stop_flow()
    app.flow_control.suspend()  # as Faust's rebalance does with it
    message = record()
    await made.wait_first(made.callback(message), made.suspend_flow.wait())
    assert seen == [] and message.acked


async def test_the_consumer_fetches_with_the_apps_limits(direct: Any) -> None:
    made, _, app = direct
    fetch_at_least(app, 262_144, 100)
    thread = made._new_consumer_thread()
    consumer = thread._create_worker_consumer(app.transport)
    try:
        assert (consumer._fetch_min_bytes, consumer._fetch_max_wait_ms) == (262_144, 100)
    finally:
        await consumer.stop()  # never started: closes its client
        thread.thread_loop.close()
