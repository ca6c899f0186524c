from typing import Any

import faust
from faust.types import TP

from streams.monitor import StreamMonitor


def test_the_worker_monitor_keeps_when_each_partitions_stream_last_took_an_event() -> None:
    app = faust.App("monitor-test", broker="kafka://127.0.0.1:1", Monitor=StreamMonitor)
    monitor: Any = app.monitor
    assert isinstance(monitor, StreamMonitor)
    tp = TP("media-events", 3)
    assert monitor.on_stream_event_in(tp, 7, None, None) is None
    first = monitor.stream_inbound_time[tp]
    monitor.on_stream_event_out(tp, 7, None, None, None)
    monitor.on_stream_event_in(tp, 8, None, None)
    assert monitor.stream_inbound_time[tp] >= first
    assert monitor.events_total == 0  # the statistics nothing here reads are not kept
