from __future__ import annotations

from sessionflow.segments import Segment, Span

GOLD = '{"field":"customMetadata.tier","op":"eq","value":"gold"}'


def test_a_segment_survives_its_marker():
    segment = Segment("org", "live-sport", 17, "app", GOLD, name="Live sport")
    again = Segment.of_marker(segment.marker("start"))
    assert (again.org_id, again.segment_id, again.generation, again.app_id, again.filter) == (
        "org", "live-sport", 17, "app", GOLD,
    )  # fmt: skip
    assert again.key == segment.key == "live-sport@17"


def test_a_span_covers_the_offsets_between_its_markers_and_round_trips_as_json():
    span = Span(Segment("org", "s", 1, None, GOLD), 10)
    assert not span.covers(10) and span.covers(11) and span.covers(10**12)
    stopped = span.stopped_at(20)
    assert stopped.covers(19) and not stopped.covers(20)
    assert Span.of_json(stopped.to_json()) == stopped


def test_public_view():
    view = Segment("org", "s", 1, None, GOLD, name="n", status="ready").public()
    assert view["filter"] == {"field": "customMetadata.tier", "op": "eq", "value": "gold"}
    assert view["status"] == "ready" and view["segment_id"] == "s"
