import asyncio

import pytest

from streams.delivery import first_step

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
