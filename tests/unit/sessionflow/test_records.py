from __future__ import annotations

from sessionflow import sessionids
from sessionflow.acceptance import CLOCK_GRACE_MS, LOG_APPEND_TIME
from sessionflow.records import ConsumedRecord, DeadLetter, abandoned

ISSUED_MS = 1_780_000_000_000
SID = sessionids.mint("secret", ISSUED_MS)


def consumed(append_ms: int, timestamp_type: int = LOG_APPEND_TIME) -> ConsumedRecord:
    return ConsumedRecord("t", 3, 42, SID.encode(), b"raw", append_ms, timestamp_type)


def test_dead_letter_headers_name_reason_detail_and_source():
    letter = DeadLetter(consumed(0), "late", "x" * 5000)
    headers = dict(letter.headers())
    assert headers["reason"] == b"late"
    assert headers["source"] == b"t/3/42"
    assert len(headers["detail"]) == 1000


def test_a_session_start_appended_after_the_deadline_is_abandoned():
    start = {"event_type": "sessionStart", "session_id": SID}
    deadline = ISSUED_MS + 5000 + CLOCK_GRACE_MS
    assert abandoned(consumed(deadline), start, 5000) is None
    letter = abandoned(consumed(deadline + 1), start, 5000)
    assert letter is not None and letter.reason == "abandoned"
    # Not broker-stamped: nothing to judge by. Other events: any delay is fine.
    assert abandoned(consumed(deadline + 1, timestamp_type=0), start, 5000) is None
    ping = {"event_type": "ping", "session_id": SID}
    assert abandoned(consumed(deadline + 10**9), ping, 5000) is None
