from sessionflow import sessionids
from sessionflow.acceptance import CLOCK_GRACE_MS, LOG_APPEND_TIME, appended_in_time

ISSUED = 1_731_672_000_000


def test_appended_before_the_deadline_counts_after_does_not():
    sid = sessionids.mint("s", ISSUED)
    assert appended_in_time(sid, ISSUED + 10, LOG_APPEND_TIME, 5000)
    assert appended_in_time(sid, ISSUED + 5000 + CLOCK_GRACE_MS, LOG_APPEND_TIME, 5000)
    assert not appended_in_time(sid, ISSUED + 5001 + CLOCK_GRACE_MS, LOG_APPEND_TIME, 5000)


def test_create_time_records_are_not_judged():
    sid = sessionids.mint("s", ISSUED)
    assert appended_in_time(sid, ISSUED + 10**9, 0, 5000)


def test_the_edge_gives_up_only_after_the_window_its_consumers_accept() -> None:
    from sessionflow.acceptance import accepted_until_ms, edge_deadline_ms, edge_gives_up_ms

    deadline = edge_deadline_ms(ISSUED, 5000)
    assert deadline == ISSUED + 5000
    assert accepted_until_ms(ISSUED, 5000) == deadline + CLOCK_GRACE_MS
    assert edge_gives_up_ms(ISSUED, 5000) > accepted_until_ms(ISSUED, 5000)
