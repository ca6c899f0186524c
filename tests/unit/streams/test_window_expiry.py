from datetime import timedelta

import faust
import pytest

from streams.app import window_expiry

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_window_end_enters_the_expiry_heap_once_and_its_keys_still_expire() -> None:
    app = faust.App("expiry-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = (
        app.Table("w", default=dict, partitions=2)
        .tumbling(timedelta(hours=1), expires=timedelta(hours=1))
        .table
    )
    written = window_expiry(table)
    first, second = ("a", table.window.current(10)), ("b", table.window.current(20))
    for _ in range(3):
        written(first, 1)
        written(second, 1)
    end = first[1][1]
    assert table._partition_timestamps[1] == [end]
    assert table._partition_timestamp_keys[(1, end)] == {first, second}
    table.data[first] = {"": [1, 0]}
    table.data[second] = {"": [1, 1]}
    await table._del_old_keys()  # both windows ended in 1970: long expired
    assert first not in table.data and second not in table.data
    assert table._partition_timestamps[1] == []
