from __future__ import annotations

import pytest

from sessionflow.errors import InvalidInput
from sessionflow.segmentfilter import canonical, compile_matcher, parse_filter, to_sql


def record(params=None, custom=None):
    return {"params": params or {}, "custom_metadata": custom or {}}


def matches(raw, rec) -> bool:
    return compile_matcher(parse_filter(raw))(rec)


def cond(field, op, *value):
    return {"field": field, "op": op, **({"value": value[0]} if value else {})}


def test_each_operator_on_a_typed_string_param():
    rec = record({"media.show": "Formula 1"})
    assert matches(cond("params.media.show", "eq", "Formula 1"), rec)
    assert not matches(cond("params.media.show", "neq", "Formula 1"), rec)
    assert matches(cond("params.media.show", "in", ["x", "Formula 1"]), rec)
    assert matches(cond("params.media.show", "prefix", "Form"), rec)
    assert matches(cond("params.media.show", "exists"), rec)
    assert not matches(cond("params.media.genre", "exists"), rec)


def test_neq_matches_an_absent_field():
    assert matches(cond("customMetadata.tier", "neq", "gold"), record())
    assert not matches(cond("customMetadata.tier", "eq", "gold"), record())


def test_typed_numbers_compare_numerically_and_booleans_as_booleans():
    rec = record({"media.length": 60, "media.resume": True})
    assert matches(cond("params.media.length", "eq", 60.0), rec)
    assert matches(cond("params.media.resume", "eq", True), rec)
    assert not matches(cond("params.media.resume", "eq", False), rec)


def test_untyped_values_compare_as_their_stored_text():
    rec = record({"custom.episodeCount": 5}, {"tier": "gold"})
    assert matches(cond("params.custom.episodeCount", "eq", 5), rec)
    assert matches(cond("params.custom.episodeCount", "eq", "5"), rec)
    assert not matches(cond("params.custom.episodeCount", "eq", 5.0), rec)
    assert matches(cond("customMetadata.tier", "prefix", "go"), rec)


def test_all_and_any_combine():
    rec = record({"media.contentType": "VOD"}, {"tier": "gold"})
    both = {
        "all": [
            cond("params.media.contentType", "eq", "VOD"),
            cond("customMetadata.tier", "eq", "x"),
        ]
    }
    either = {
        "any": [
            cond("params.media.contentType", "eq", "VOD"),
            cond("customMetadata.tier", "eq", "x"),
        ]
    }
    assert not matches(both, rec) and matches(either, rec)
    assert matches({"all": [either, {"any": [cond("customMetadata.tier", "exists")]}]}, rec)


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ([], "filter: must be an object"),
        ({"all": []}, "filter.all: must be a non-empty list"),
        ({"all": [1]}, "filter.all[0]: must be an object"),
        (cond("media.show", "eq", "x"), "filter.field"),
        (cond("params.media.show", "like", "x"), "filter.op: must be one of"),
        (cond("params.media.show", "eq"), "filter.value: 'eq' needs a value"),
        (cond("params.media.show", "eq", 5), "filter.value: params.media.show compares as string"),
        (cond("params.media.length", "prefix", "5"), "filter.value: 'prefix' needs a string"),
        (cond("params.media.resume", "eq", 1), "compares as boolean"),
        (cond("params.media.show", "in", []), "'in' needs a list"),
        (cond("params.media.show", "exists", True), "'exists' takes no value"),
        ({"field": "params.a", "op": "eq", "value": "x", "extra": 1}, "unknown members"),
        ({"all": [cond("params.a", "exists")], "any": [cond("params.a", "exists")]}, "one member"),
    ],
)
def test_bad_filters_name_the_problem(raw, named):
    with pytest.raises(InvalidInput) as caught:
        parse_filter(raw)
    assert any(named in e.error for e in caught.value.errors), caught.value.errors


def test_depth_and_size_are_bounded():
    deep: dict = cond("params.a", "exists")
    for _ in range(7):
        deep = {"all": [deep]}
    with pytest.raises(InvalidInput, match="segment filter"):
        parse_filter(deep)
    with pytest.raises(InvalidInput):
        parse_filter({"any": [cond("params.a", "exists")] * 101})


def test_canonical_form_round_trips():
    raw = {"any": [cond("params.media.show", "in", ["a", "b"]), cond("customMetadata.t", "exists")]}
    assert parse_filter(raw) == parse_filter(
        __import__("orjson").loads(canonical(parse_filter(raw)))
    )


def test_sql_uses_parameters_never_inlined_values():
    sql, params = to_sql(parse_filter(cond("customMetadata.it's", "eq", "x' OR 1 --")))
    assert "x'" not in sql and "it's" not in sql
    assert sorted(params.values()) == ["it's", "x' OR 1 --"]
