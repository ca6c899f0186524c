from sessionflow.timebuckets import Unit
from streams import counting

H = 3_600_000


def test_targets_cover_every_unit_and_the_all_sessions_segment():
    found = counting.targets("org", "app", [], 5 * H + 17 * 60_000, 3)
    assert {(t.unit, t.bucket_start_ms) for t in found} == {
        (Unit.QUARTER, 5 * H + 15 * 60_000),
        (Unit.HOUR, 5 * H),
        (Unit.DAY, 0),
    }
    assert {t.segment_id for t in found} == {counting.ALL_SESSIONS}
    assert len({t.key for t in found}) == 1


def test_keys_are_unambiguous():
    a = counting.targets("o|x", "a", [], 0, 1)[0].key
    b = counting.targets("o", "x|a", [], 0, 1)[0].key
    assert a != b


def test_apply_is_idempotent_under_replay():
    # A stream of offsets with a replay after a "crash" at offset 5.
    state = None
    applied = []
    for offset in [1, 3, 5, 3, 5, 7]:
        state, new = counting.apply(state, offset)
        applied.append(new)
    assert state == [4, 7]
    assert applied == [True, True, True, False, False, True]


def test_count_record_carries_absolute_state_and_version():
    target = counting.targets("o", "a", [], H, 2)[1]
    record = counting.count_record(target, 2, [5, 42])
    assert record["count"] == 5 and record["version"] == 84 and record["source_partition"] == 2


def test_late_policy():
    day = 86_400_000
    assert not counting.is_late(10 * day, 13 * day, 3 * day)
    assert counting.is_late(10 * day - 1, 13 * day, 3 * day)
