"""QoE of scripted sessions, each figure worked out by hand from SPEC §3's definitions (times
in ms of playerTime.ts after the sessionStart at T0)."""

from __future__ import annotations

import dataclasses

from streams import qoe

T0 = 1_780_000_000_000


def run(*events: tuple[str, int], idle_until: int | None = None) -> dict:
    """Apply ``(event type, ms after T0)`` in order (receive time = event time); close by
    idleness at ``idle_until`` if given; return the summary."""
    start = {"org_id": "org", "app_id": "app", "session_time_ms": T0, "player_ts_ms": T0,
             "received_ms": T0}  # fmt: skip
    state = qoe.start(start, offset=0)
    for offset, (event_type, at) in enumerate(events, start=1):
        state = qoe.apply(state, event_type, T0 + at, T0 + at, offset)
    if idle_until is not None:
        state = qoe.close_if_idle(state, T0 + idle_until)
    return qoe.summary("s", state)


def test_pause_and_buffering():
    # startup 2 s; playing 2→62, 72→102, 105→165 s = 60 + 30 + 60 = 150 s; buffering 102→105
    got = run(("play", 2_000), ("ping", 12_000), ("pauseStart", 62_000), ("ping", 67_000),
              ("play", 72_000), ("bufferStart", 102_000), ("play", 105_000),
              ("sessionComplete", 165_000))  # fmt: skip
    assert got["startup_time_ms"] == 2_000
    assert (got["played_ms"], got["buffering_ms"]) == (150_000, 3_000)
    assert got["completed"] and not got["exited_before_start"]
    assert (got["closed_reason"], got["closed_at_ms"]) == ("complete", T0 + 165_000)


def test_ad_time_is_not_content_time():
    # content 1→31 s; ad break 31→46 s (its play at 31.5 is the ad's); content 46.5→106.5 s
    got = run(("play", 1_000), ("adBreakStart", 31_000), ("adStart", 31_000),
              ("play", 31_500), ("ping", 32_500), ("adComplete", 46_000),
              ("adBreakComplete", 46_000), ("play", 46_500), ("sessionEnd", 106_500))  # fmt: skip
    assert got["played_ms"] == 30_000 + 60_000
    assert got["startup_time_ms"] == 1_000
    assert not got["completed"] and got["closed_reason"] == "end"


def test_a_seek_sends_play_while_playing_and_changes_nothing():
    got = run(("play", 500), ("play", 20_500), ("play", 40_500), ("sessionComplete", 60_500))
    assert (got["startup_time_ms"], got["played_ms"]) == (500, 60_000)


def test_exit_before_start():
    # buffering from 5 s to the end at 8 s; never a play
    got = run(("ping", 4_000), ("bufferStart", 5_000), ("sessionEnd", 8_000))
    assert got["exited_before_start"] and got["startup_time_ms"] is None
    assert (got["played_ms"], got["buffering_ms"]) == (0, 3_000)


def test_a_silent_session_times_out_and_counts_until_its_last_event():
    # playing 1→301 s (pings), then silence: closed 10 minutes after the last event
    pings = [("ping", 1_000 + 10_000 * i) for i in range(1, 31)]
    events = (("play", 1_000), *pings)
    state = qoe.start({"org_id": "o", "app_id": "a", "session_time_ms": T0,
                       "player_ts_ms": T0, "received_ms": T0}, 0)  # fmt: skip
    for offset, (event_type, at) in enumerate(events, start=1):
        state = qoe.apply(state, event_type, T0 + at, T0 + at, offset)
    assert qoe.close_if_idle(state, T0 + 301_000 + qoe.IDLE_CLOSE_MS - 1) is state  # not yet
    got = run(*events, idle_until=301_000 + qoe.IDLE_CLOSE_MS)
    assert got["closed_reason"] == "timeout" and got["played_ms"] == 300_000
    assert got["closed_at_ms"] == T0 + 301_000


def test_replays_and_events_after_the_close_change_nothing():
    state = qoe.start({"org_id": "o", "app_id": "a", "session_time_ms": T0,
                       "player_ts_ms": T0, "received_ms": T0}, 10)  # fmt: skip
    played = qoe.apply(state, "play", T0 + 1_000, T0 + 1_000, 11)
    assert qoe.apply(played, "pauseStart", T0 + 9_000, T0 + 9_000, 11) is played  # replay
    closed = qoe.apply(played, "sessionComplete", T0 + 5_000, T0 + 5_000, 12)
    assert qoe.apply(closed, "play", T0 + 6_000, T0 + 6_000, 13) is closed  # late
    assert qoe.summary("s", closed)["played_ms"] == 4_000
    assert qoe.SessionQoe.of_json(closed.to_json()) == closed


def test_a_player_clock_stepping_back_never_makes_a_negative_duration():
    got = run(("play", 10_000), ("pauseStart", 8_000), ("sessionEnd", 20_000))
    assert got["played_ms"] == 0 and got["startup_time_ms"] == 10_000


def test_state_round_trips_through_its_json_form():
    state = qoe.SessionQoe("o", "a", 3, 1, 2, 3, 4, 5, first_play_ts_ms=9, closed="end")
    assert qoe.SessionQoe.of_json(state.to_json()) == state
    assert state.to_json() == dataclasses.asdict(state)


def test_a_closed_state_remembers_the_offset_of_the_record_that_closed_it():
    # A restart re-sends only the summaries of sessions closed at or past the committed offset.
    state = qoe.start({"org_id": "o", "app_id": "a", "session_time_ms": T0,
                       "player_ts_ms": T0, "received_ms": T0}, 10)  # fmt: skip
    assert qoe.apply(state, "sessionEnd", T0 + 5_000, T0 + 5_000, 14).closed_offset == 14
    idle = qoe.close_if_idle(state, T0 + qoe.IDLE_CLOSE_MS, at_offset=99)
    assert (idle.closed, idle.closed_offset) == ("timeout", 99)
    assert qoe.SessionQoe.of_json(idle.to_json()) == idle


def test_due_gives_a_slice_of_the_sessions_at_or_before_the_deadline():
    times = {"a": 10, "b": 50, "c": 20, "d": 30, "e": 5}
    assert qoe.due(times, 20, 10) == ["a", "c", "e"]
    assert qoe.due(times, 20, 2) == ["a", "c"]
    assert qoe.due(times, 4, 10) == []


def test_a_state_after_events_is_a_whole_session_state() -> None:
    """``apply`` builds its states without ``__init__``: they still compare, hash and
    round-trip through JSON like constructed ones, and the state given is never changed."""
    opened = qoe.SessionQoe("o", "a", 2, 1_000, 10, 10, 5_000, 7)
    before = opened.to_json()
    played = qoe.apply(opened, "play", 2_010, 5_100, 8)
    assert opened.to_json() == before
    assert played == qoe.SessionQoe.of_json(played.to_json())
    assert hash(played) == hash(qoe.SessionQoe.of_json(played.to_json()))
    assert played.first_play_ts_ms == 2_010 and played.last_offset == 8
    closed = qoe.close_if_idle(played, 5_100 + qoe.IDLE_CLOSE_MS, at_offset=99)
    assert (closed.closed, closed.closed_offset, closed.played_ms) == ("timeout", 99, 0)
    assert isinstance(closed, qoe.SessionQoe) and played.closed is None
