from __future__ import annotations

from streams.segments import Matchers, apply_marker, segments_of


def marker(
    action, key="s@1", app=None, filt='{"field":"customMetadata.tier","op":"eq","value":"gold"}'
):
    return {"org_id": "org", "segment_key": key, "action": action, "app_id": app, "filter": filt}


def start_record(tier="gold", app="app"):
    return {"org_id": "org", "app_id": app, "params": {}, "custom_metadata": {"tier": tier}}


def test_a_session_counts_between_its_segments_start_and_stop_markers():
    entries = apply_marker([], marker("start"), 10)
    entries = apply_marker(entries, marker("stop"), 20)
    m = Matchers()
    assert segments_of(entries, start_record(), 9, m) == []
    assert segments_of(entries, start_record(), 10, m) == []
    assert segments_of(entries, start_record(), 11, m) == ["s@1"]
    assert segments_of(entries, start_record(), 19, m) == ["s@1"]
    assert segments_of(entries, start_record(), 20, m) == []
    assert segments_of(entries, start_record("silver"), 15, m) == []


def test_replayed_markers_change_nothing():
    entries = apply_marker([], marker("start"), 10)
    assert apply_marker(entries, marker("start"), 30) is entries
    stopped = apply_marker(entries, marker("stop"), 40)
    assert apply_marker(stopped, marker("stop"), 50) is stopped
    assert apply_marker([], marker("stop"), 5) == []


def test_app_and_org_scope():
    entries = apply_marker([], marker("start", app="other"), 0)
    assert segments_of(entries, start_record(), 1, Matchers()) == []
    assert segments_of(entries, {**start_record(), "org_id": "x"}, 1, Matchers()) == []
    assert segments_of(entries, start_record(app="other"), 1, Matchers()) == ["s@1"]


def test_an_unreadable_filter_matches_nothing():
    entries = apply_marker([], marker("start", filt="{"), 0)
    assert segments_of(entries, start_record(), 1, Matchers()) == []
