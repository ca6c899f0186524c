"""What real media players send, as plain data: the timeline of one viewing session.

A timeline is a list of ``Step``: when (ms after the sessionStart was sent) and which event body
to post. It follows SPEC §2 "Real players" and Adobe's guide: pings every 10 s during content
(also while paused), every 1 s during ads, events queued before the 201 sent in a burst right
after it, a seek back, buffering, bitrate changes, a chapter, an ad break, a pause, and
``sessionComplete`` (or Adobe's sample player's ``contentComplete``).

Pure: the tests, the load generator and the benchmarks build their traffic from it; callers
compress time by scaling ``at_ms``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

Body = dict[str, Any]

CONTENT_PING_MS = 10_000
AD_PING_MS = 1_000


@dataclass(frozen=True)
class Step:
    """One request of a session after its sessionStart: post ``body`` at ``at_ms``."""

    at_ms: int
    body: Body

    @property
    def event_type(self) -> str:
        return str(self.body["eventType"])


def session_start(
    org: str, app: str, ts_ms: int, *, media_length_s: float = 600.0, **params: Any
) -> Body:
    """A valid sessionStart body of ``app`` in ``org`` at player time ``ts_ms``."""
    return {
        "eventType": "sessionStart",
        "playerTime": {"playhead": 0, "ts": ts_ms},
        "params": {
            "analytics.trackingServer": "collect.example.net",
            "analytics.reportSuite": app,
            "visitor.marketingCloudOrgId": org,
            "media.id": "vid-1",
            "media.name": "Sample video",
            "media.playerName": "sessionflow-sim",
            "media.channel": "sim",
            "media.contentType": "VOD",
            "media.length": media_length_s,
            **params,
        },
    }


class _Timeline:
    """Builds the steps of one session while tracking the clock and the playhead."""

    def __init__(self, start_ts_ms: int) -> None:
        self.start_ts_ms = start_ts_ms
        self.now_ms = 0
        self.playhead = 0.0
        self.steps: list[Step] = []

    def emit(self, event_type: str, **extra: Any) -> None:
        body: Body = {
            "eventType": event_type,
            "playerTime": {
                "playhead": round(self.playhead, 3),
                "ts": self.start_ts_ms + self.now_ms,
            },
            **extra,
        }
        self.steps.append(Step(self.now_ms, body))

    def advance(self, ms: int, *, playing: bool, ping_every_ms: int) -> None:
        """Let ``ms`` pass, pinging every ``ping_every_ms``; the playhead moves if ``playing``."""
        end = self.now_ms + ms
        while self.now_ms + ping_every_ms <= end:
            self.now_ms += ping_every_ms
            if playing:
                self.playhead += ping_every_ms / 1000
            self.emit("ping")
        if playing:
            self.playhead += (end - self.now_ms) / 1000
        self.now_ms = end


def realistic_session(
    start_ts_ms: int,
    *,
    content_s: int = 600,
    rng: random.Random | None = None,
    complete_as: str = "sessionComplete",
) -> list[Step]:
    """The steps of one ~``content_s``-second viewing after its sessionStart (sent at 0).

    About 60 requests for the default ten minutes: a burst when the content starts 0.3-2.5 s
    in (play, bitrateChange, chapterStart), content with 10 s pings, buffering, a pause with
    pings going on, a seek back, an ad break of two ads with 1 s pings, more content,
    ``complete_as``.
    """
    rng = rng or random.Random(0)
    t = _Timeline(start_ts_ms)
    quarter = max(content_s // 4, 1) * 1000
    # Startup: the content starts playing 0.3-2.5 s after the sessionStart (the QoE startup
    # time); the events of that moment go out together.
    t.advance(rng.randrange(300, 2500), playing=False, ping_every_ms=CONTENT_PING_MS)
    t.emit("play")
    t.emit("bitrateChange", qoeData={"media.qoe.bitrate": rng.choice((800, 1600, 3200))})
    t.emit(
        "chapterStart",
        params={"media.chapter.index": 1, "media.chapter.offset": 0.0,
                "media.chapter.length": float(content_s)},
    )  # fmt: skip
    t.advance(quarter, playing=True, ping_every_ms=CONTENT_PING_MS)
    t.emit("bufferStart")
    t.advance(rng.randrange(500, 3000), playing=False, ping_every_ms=CONTENT_PING_MS)
    t.emit("play")
    t.advance(quarter, playing=True, ping_every_ms=CONTENT_PING_MS)
    t.emit("pauseStart")
    t.advance(rng.randrange(20_000, 40_000), playing=False, ping_every_ms=CONTENT_PING_MS)
    t.emit("play")
    # Seek back: the playhead jumps backwards.
    t.playhead = max(0.0, t.playhead - rng.randrange(5, 30))
    t.emit("play")
    t.advance(quarter // 2, playing=True, ping_every_ms=CONTENT_PING_MS)
    t.emit("adBreakStart", params={"media.ad.podIndex": 1, "media.ad.podSecond": t.playhead})
    for position in (1, 2):
        t.emit(
            "adStart",
            params={"media.ad.podPosition": position, "media.ad.id": f"ad-{position}",
                    "media.ad.length": 15.0, "media.ad.playerName": "sim-ads"},
        )  # fmt: skip
        t.advance(15_000, playing=False, ping_every_ms=AD_PING_MS)
        t.emit("adComplete")
    t.emit("adBreakComplete")
    t.emit("play")
    t.emit("bitrateChange", qoeData={"media.qoe.bitrate": rng.choice((800, 1600, 3200))})
    t.advance(content_s * 1000 - 3 * quarter - quarter // 2, playing=True,
              ping_every_ms=CONTENT_PING_MS)  # fmt: skip
    t.emit("chapterComplete")
    t.emit(complete_as)
    return t.steps


def start_only() -> list[Step]:
    """A burst viewer (a live event beginning): the sessionStart and nothing after it."""
    return []


def compress(steps: list[Step], factor: float) -> list[Step]:
    """The same steps ``factor`` times faster (``playerTime.ts`` keeps the real timeline)."""
    return [Step(int(step.at_ms / factor), step.body) for step in steps]
