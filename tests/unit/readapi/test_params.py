from datetime import UTC, datetime, timedelta, timezone

import pytest

from readapi.params import (
    check_segment_id,
    parse_ending_at,
    parse_segment_definition,
    parse_series_query,
)
from sessionflow.errors import InvalidInput
from sessionflow.timebuckets import Unit

NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-06-28T23:59:59-5:00", datetime(2018, 6, 28, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))),
        ("2018-06-28T23:59:59-05:00", datetime(2018, 6, 28, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))),
        ("2018-06-28T23:59:59+0530", datetime(2018, 6, 28, 23, 59, 59, tzinfo=timezone(timedelta(hours=5, minutes=30)))),
        ("2018-06-28T23:59:59Z", datetime(2018, 6, 28, 23, 59, 59, tzinfo=UTC)),
        ("2018-06-28T23:59:59", datetime(2018, 6, 28, 23, 59, 59, tzinfo=UTC)),
        ("2018-06-28T10:00", datetime(2018, 6, 28, 10, tzinfo=UTC)),
        ("2018-06-28T10:00:00.5+05:45", datetime(2018, 6, 28, 10, 0, 0, 500_000, tzinfo=timezone(timedelta(hours=5, minutes=45)))),
        ("2018-06-28", datetime(2018, 6, 28, 23, 59, 59, 999_000, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_ending_at_forms(text, expected):
    parsed = parse_ending_at(text)
    assert parsed == expected and parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "2018-13-01",
        "2018-06-28T25:00",
        "2018-06-28T10:00+05:07",
        "2018-06-28T10:00+15:00",
    ],
)
def test_bad_ending_at(text):
    with pytest.raises(ValueError):
        parse_ending_at(text)


def test_defaults():
    q = parse_series_query({"length": "7"}, NOW)
    assert (q.length, q.unit, q.ending_at, q.app_id, q.segment_id) == (7, Unit.DAY, NOW, None, None)


def test_every_bad_parameter_is_named():
    with pytest.raises(InvalidInput) as info:
        parse_series_query({"length": "101", "unit": "week", "ending_at": "soon"}, NOW)
    assert {e.path for e in info.value.errors} == {"length", "unit", "ending_at"}
    with pytest.raises(InvalidInput) as info:
        parse_series_query({}, NOW)
    assert [e.error for e in info.value.errors] == ["length is required"]
    with pytest.raises(InvalidInput):
        parse_series_query({"length": "1.5"}, NOW)
    with pytest.raises(InvalidInput):
        parse_series_query({"length": "0"}, NOW)


def test_segment_definition_is_parsed_and_every_problem_named():
    ok = parse_segment_definition(
        b'{"name": "Gold", "app_id": null, "filter": '
        b'{"field": "customMetadata.tier", "op": "eq", "value": "gold"}}'
    )
    assert ok.name == "Gold" and ok.app_id is None
    with pytest.raises(InvalidInput) as caught:
        parse_segment_definition(b'{"name": "", "app_id": 5, "extra": 1}')
    paths = [e.path for e in caught.value.errors]
    assert paths == ["body", "name", "app_id", "filter"]
    with pytest.raises(InvalidInput, match="invalid segment"):
        parse_segment_definition(b"[1]")
    with pytest.raises(InvalidInput):
        parse_segment_definition(b"{")
    check_segment_id("live-sport_2.v1")
    for bad in ("", "-x", "a" * 65, "a@1", "a b"):
        with pytest.raises(InvalidInput):
            check_segment_id(bad)


def test_the_concurrent_series_takes_minutes_and_hours_not_days():
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    units = (Unit.MINUTE, Unit.HOUR)
    assert parse_series_query({"length": "5"}, now, units).unit is Unit.MINUTE
    assert parse_series_query({"length": "5", "unit": "hour"}, now, units).unit is Unit.HOUR
    with pytest.raises(InvalidInput) as refused:
        parse_series_query({"length": "5", "unit": "day"}, now, units)
    assert [(e.path, e.error) for e in refused.value.errors] == [
        ("unit", "unit must be 'minute' or 'hour'")
    ]
