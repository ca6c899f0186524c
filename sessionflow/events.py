"""The media event vocabulary: every Adobe event type, and the other names players send.

Shared by the edge (which validates them), the worker and the sink (which count and store them)
and the read API (whose ``/events/data_series`` takes one as a parameter).
"""

from __future__ import annotations

EVENT_TYPES: tuple[str, ...] = (
    "sessionStart", "play", "ping", "pauseStart", "bufferStart", "bitrateChange", "error",
    "sessionComplete", "sessionEnd", "adBreakStart", "adBreakComplete", "adStart", "adComplete",
    "adSkip", "chapterStart", "chapterComplete", "chapterSkip", "stateStart", "stateEnd",
)  # fmt: skip

SESSION_START = "sessionStart"

# Other names players send for an event type: Adobe's published sample player ends content with
# ``contentComplete``. Accepted on the wire, stored under the canonical name.
EVENT_ALIASES: dict[str, str] = {"contentComplete": "sessionComplete"}
# Every eventType the edge accepts: the canonical types, then their aliases.
WIRE_EVENT_TYPES: tuple[str, ...] = (*EVENT_TYPES, *EVENT_ALIASES)
