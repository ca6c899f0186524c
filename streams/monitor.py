"""Faust's monitor, keeping only what Faust itself reads of it per stream event.

Faust calls its ``Monitor`` sensor twice per event (``on_stream_event_in`` and ``_out``): it
counts events by stream and by task, times each one and keeps a dict per event for that, 4 % of
a worker's time on a realistic backlog. Nothing reads those statistics here (the worker's
metrics are its own, ``sessionflow.metrics``); Faust's consumer reads one thing, the time a
partition's stream last took an event, to warn when a stream stops processing. That is what
this monitor keeps.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor


class StreamMonitor(Monitor):
    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(
        self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        return None
