"""Quality of experience of one session (pure): its state, rebuilt from every event by
``playerTime.ts``, and the summary published when it closes (SPEC §3 "Quality of experience").

Rules, as SPEC §3 defines them and where it is silent:

- *playing* runs from a ``play`` until the next ``pauseStart``, ``bufferStart``,
  ``adBreakStart``, ``adStart``, ``sessionComplete`` or ``sessionEnd``; a ``play`` while
  already playing (a seek) changes nothing;
- *buffering* runs from a ``bufferStart`` until the next ``play`` (or the close);
- ad time is not content time: a ``play`` between ``adStart`` and ``adComplete``/``adSkip`` is
  the ad's and starts no content playing;
- an event's time is its ``playerTime.ts``, never earlier than the session's latest one (a
  player clock that steps back cannot make a negative duration);
- a session closes on ``sessionComplete`` or ``sessionEnd``, or when no event arrived for
  ``IDLE_CLOSE_MS`` (10 minutes, edge receive time); an idle close ends playing and buffering
  at its last event;
- after the close the summary is final: later events of the session are stored raw by the
  sink but change no figure (``apply`` ignores them); replays change nothing (offsets).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

IDLE_CLOSE_MS = 10 * 60 * 1000
STOPS_PLAYING = frozenset(
    {"pauseStart", "bufferStart", "adBreakStart", "adStart", "sessionComplete", "sessionEnd"}
)
CLOSES = {"sessionComplete": "complete", "sessionEnd": "end"}


@dataclass(frozen=True)
class SessionQoe:
    """What the worker keeps of one open session (JSON-ready with ``to_json``)."""

    org_id: str
    app_id: str
    partition: int  # of its records in media-events
    session_time_ms: int  # the time the session counts at (its bucket)
    start_ts_ms: int  # its sessionStart's playerTime.ts
    last_ts_ms: int
    last_received_ms: int
    last_offset: int
    first_play_ts_ms: int | None = None
    playing_since_ms: int | None = None
    buffering_since_ms: int | None = None
    in_ad: bool = False
    played_ms: int = 0
    buffering_ms: int = 0
    completed: bool = False
    closed: str | None = None  # "complete", "end" or "timeout"
    # Offset (in ``partition``) of the record that closed it: its own sessionComplete or
    # sessionEnd, or the record of another session whose time showed it idle. A restart replays
    # from the last committed offset; a summary can only be unacknowledged if this is at or past it.
    closed_offset: int | None = None

    def to_json(self) -> dict[str, Any]:
        # Every field is a scalar: a shallow copy is what ``asdict`` gives, at a tenth of the
        # cost (this runs once per media event).
        return dict(self.__dict__)

    @classmethod
    def of_json(cls, value: dict[str, Any]) -> SessionQoe:
        return cls(**value)


def start(record: dict[str, Any], offset: int, partition: int = 0) -> SessionQoe:
    """The state of a session from its sessionStart record."""
    return SessionQoe(
        org_id=record["org_id"],
        app_id=record["app_id"],
        partition=partition,
        session_time_ms=record["session_time_ms"],
        start_ts_ms=record["player_ts_ms"],
        last_ts_ms=record["player_ts_ms"],
        last_received_ms=record["received_ms"],
        last_offset=offset,
    )


def _new(fields: dict[str, Any]) -> SessionQoe:
    """A ``SessionQoe`` holding ``fields`` (all of them, as its ``__dict__`` does), without
    ``dataclasses.replace``'s keyword pass through ``__init__``: ``apply`` runs once per media
    event, and one ``replace`` per change there was 8 % of a worker's time."""
    state = object.__new__(SessionQoe)
    state.__dict__.update(fields)
    return state


def _stop(fields: dict[str, Any], at_ms: int, *, buffering_too: bool) -> None:
    """End playing (and buffering) at ``at_ms`` in a state's ``fields``."""
    if fields["playing_since_ms"] is not None:
        fields["played_ms"] += at_ms - fields["playing_since_ms"]
        fields["playing_since_ms"] = None
    if buffering_too and fields["buffering_since_ms"] is not None:
        fields["buffering_ms"] += at_ms - fields["buffering_since_ms"]
        fields["buffering_since_ms"] = None


def apply(
    state: SessionQoe, event_type: str, ts_ms: int, received_ms: int, offset: int
) -> SessionQoe:
    """``state`` after one event of its session (the same object when it changes nothing:
    a replayed offset, or any event after the close)."""
    if offset <= state.last_offset or state.closed is not None:
        return state
    fields = dict(state.__dict__)
    at = max(ts_ms, state.last_ts_ms)
    fields["last_ts_ms"] = at
    fields["last_received_ms"] = received_ms
    fields["last_offset"] = offset
    if event_type == "play" and not state.in_ad:
        if state.buffering_since_ms is not None:
            fields["buffering_ms"] += at - state.buffering_since_ms
            fields["buffering_since_ms"] = None
        if state.playing_since_ms is None:
            fields["playing_since_ms"] = at
        if state.first_play_ts_ms is None:
            fields["first_play_ts_ms"] = at
        return _new(fields)
    if event_type in STOPS_PLAYING:
        _stop(fields, at, buffering_too=event_type in CLOSES)
    if event_type == "bufferStart" and fields["buffering_since_ms"] is None:
        fields["buffering_since_ms"] = at
    elif event_type == "adStart":
        fields["in_ad"] = True
    elif event_type in ("adComplete", "adSkip"):
        fields["in_ad"] = False
    elif event_type in CLOSES:
        fields["closed"] = CLOSES[event_type]
        fields["completed"] = event_type == "sessionComplete"
        fields["closed_offset"] = offset
    return _new(fields)


def close_if_idle(
    state: SessionQoe,
    now_received_ms: int,
    idle_close_ms: int = IDLE_CLOSE_MS,
    *,
    at_offset: int | None = None,
) -> SessionQoe:
    """``state`` closed (``"timeout"``) if its last event is ``idle_close_ms`` older than
    ``now_received_ms`` (the edge time of the record at ``at_offset``); else unchanged."""
    if state.closed is not None or now_received_ms - state.last_received_ms < idle_close_ms:
        return state
    fields = dict(state.__dict__)
    _stop(fields, state.last_ts_ms, buffering_too=True)
    fields["closed"] = "timeout"
    fields["closed_offset"] = at_offset
    return _new(fields)


def due(times: Mapping[str, int], deadline_ms: int, limit: int) -> list[str]:
    """Up to ``limit`` keys of ``times`` (key -> time) whose time is ``deadline_ms`` or earlier,
    in the mapping's order: the sessions to close (or drop) now, a slice at a time."""
    return list(islice((key for key, at in times.items() if at <= deadline_ms), limit))


def summary(session_id: str, state: SessionQoe) -> dict[str, Any]:
    """The published summary of a closed session (one ``session_summaries`` row)."""
    assert state.closed is not None, "only closed sessions have a summary"
    startup = None if state.first_play_ts_ms is None else state.first_play_ts_ms - state.start_ts_ms
    return {
        "session_id": session_id,
        "org_id": state.org_id,
        "app_id": state.app_id,
        "session_time_ms": state.session_time_ms,
        "startup_time_ms": startup,
        "played_ms": state.played_ms,
        "buffering_ms": state.buffering_ms,
        "completed": state.completed,
        "exited_before_start": state.first_play_ts_ms is None,
        "closed_reason": state.closed,
        "closed_at_ms": state.last_ts_ms,
    }
