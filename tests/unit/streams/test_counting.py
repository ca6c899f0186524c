from sessionflow.timebuckets import Unit
from streams import counting

H = 3_600_000


def test_windows_cover_every_unit_under_one_key():
    found = counting.windows("org", "app", 5 * H + 17 * 60_000, 3)
    assert {(w.unit, w.bucket_start_ms) for w in found} == {
        (Unit.QUARTER, 5 * H + 15 * 60_000),
        (Unit.HOUR, 5 * H),
        (Unit.DAY, 0),
    }
    assert len({w.key for w in found}) == 1


def test_keys_are_unambiguous():
    a = counting.windows("o|x", "a", 0, 1)[0].key
    b = counting.windows("o", "x|a", 0, 1)[0].key
    assert a != b


def test_apply_is_idempotent_under_replay():
    # A stream of offsets with a replay after a "crash" at offset 5.
    state = None
    changed = []
    for offset in [1, 3, 5, 3, 5, 7]:
        state, new = counting.apply(state, [], offset)
        changed.append(new)
    assert state == {"": [4, 7]}
    assert changed == [[""], [""], [""], [], [], [""]]


def test_segments_count_in_the_same_state_each_with_its_own_offset():
    state, changed = counting.apply(None, ["gold"], 4)
    assert state == {"": [1, 4], "gold": [1, 4]} and changed == ["", "gold"]
    state, changed = counting.apply(state, [], 6)
    state, changed = counting.apply(state, ["gold", "new"], 6)  # replay of 6, now matching
    assert state == {"": [2, 6], "gold": [2, 6], "new": [1, 6]}
    assert changed == ["gold", "new"]
    again, changed = counting.apply(state, ["gold", "new"], 6)
    assert again == state and changed == []


def test_count_record_carries_absolute_states_and_versions_of_all_windows():
    quarter, hour, _ = counting.windows("o", "a", H, 2)
    record = counting.count_record([(quarter, "", [5, 42]), (hour, "gold@1", [3, 40])])
    assert record["count"] == 5 and record["version"] == 84 and record["source_partition"] == 2
    assert record["unit"] == "quarter" and record["segment_id"] == ""
    assert record["more"] == [
        {"segment_id": "gold@1", "unit": "hour", "bucket_start_ms": H, "count": 3, "version": 80}
    ]


def test_late_policy():
    day = 86_400_000
    assert not counting.is_late(10 * day, 13 * day, 3 * day)
    assert counting.is_late(10 * day - 1, 13 * day, 3 * day)
