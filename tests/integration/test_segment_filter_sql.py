"""A segment filter selects the same sessions in the worker (Python, on the live record) as in
ClickHouse (SQL, on the stored row), on the server CI installs (18.16) and on a current engine
(chdb): the backfill and the live count never disagree on a session."""

from __future__ import annotations

import random
from datetime import datetime

import chdb.session
from clickhouse_driver.util.escape import escape_params
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from sessionflow.segmentfilter import compile_matcher, parse_filter, to_sql
from sessionflow.tables import statements
from sinks import rows

from .test_sink import start_record

# Small value domains, so that random filters often hit and miss.
DOMAIN: dict[str, list] = {
    "params.media.show": ["Formula 1", "Form", "F", "", "Fórmula", None],
    "params.media.length": [0, 60, 60.5, 3600],
    "params.media.resume": [True, False, None],
    "params.visitor.aamLocationHint": [1, 9, None],
    "params.custom.n": [5, 5.0, "5", True, "Form", None],
    "customMetadata.tier": ["gold", "go", "", "Gold", None],
    "customMetadata.it's": ["x' OR 1 --", None],
}
FILTER_VALUES: dict[str, list] = {
    "params.media.show": ["Formula 1", "Form", "F", "", "x"],
    "params.media.length": [0, 60, 60.5, 3600.0, 7],
    "params.media.resume": [True, False],
    "params.visitor.aamLocationHint": [1, 9.0, 2],
    "params.custom.n": [5, 5.0, "5", True, "Fo"],
    "customMetadata.tier": ["gold", "go", "", "G"],
    "customMetadata.it's": ["x' OR 1 --", "x'"],
}
TEXTUAL = {"params.media.show", "params.custom.n", "customMetadata.tier", "customMetadata.it's"}


def sessions(count: int = 240) -> list[dict]:
    rng = random.Random(20261122)
    found = []
    for i in range(count):
        record = start_record(f"{i:064x}", 1_731_672_000_000 + i * 60_000)
        record["params"] = {"media.id": "m"}
        record["custom_metadata"] = {}
        for field, values in DOMAIN.items():
            value = rng.choice(values)
            if value is None:
                continue
            member, key = field.split(".", 1)
            record["params" if member == "params" else "custom_metadata"][key] = value
        found.append(record)
    return found


@st.composite
def conditions(draw):
    field = draw(st.sampled_from(sorted(FILTER_VALUES)))
    ops = ["eq", "neq", "in", "exists"] + (["prefix"] if field in TEXTUAL else [])
    op = draw(st.sampled_from(ops))
    values = FILTER_VALUES[field]
    if op == "exists":
        return {"field": field, "op": op}
    if op == "prefix":
        return {
            "field": field,
            "op": op,
            "value": draw(st.sampled_from([v for v in values if isinstance(v, str)] or [""])),
        }
    if op == "in":
        return {
            "field": field,
            "op": op,
            "value": draw(st.lists(st.sampled_from(values), min_size=1, max_size=3)),
        }
    return {"field": field, "op": op, "value": draw(st.sampled_from(values))}


filters = st.recursive(
    conditions(),
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=6,
)


def _valid(raw) -> bool:
    try:
        parse_filter(raw)
    except Exception:
        return False
    return True


def python_matches(records: list[dict], raw) -> set[str]:
    matcher = compile_matcher(parse_filter(raw))
    return {r["session_id"] for r in records if matcher(r)}


def test_sql_and_python_agree_on_the_server(clickhouse):
    records = sessions()
    clickhouse.insert(
        "sessions", rows.SESSION_COLUMNS,
        [rows.session_row(r, 0, i, 1_731_672_000_000) for i, r in enumerate(records)],
    )  # fmt: skip

    @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(filters.filter(_valid))
    def agree(raw):
        sql, params = to_sql(parse_filter(raw))
        stored = clickhouse.execute(
            f"SELECT session_id FROM {clickhouse.database}.sessions WHERE {sql}", params
        )
        expected = python_matches(records, raw)
        assert {sid for (sid,) in stored} == expected, raw
        sizes.append(len(expected))

    sizes: list[int] = []
    agree()
    # Not vacuous: most filters select some sessions but not all.
    assert sum(0 < size < len(records) for size in sizes) > len(sizes) // 2


def _literal(value) -> str:
    if isinstance(value, datetime):
        return str(int(value.timestamp()))
    return str(escape_params({"v": value}, None)["v"])


def test_sql_and_python_agree_on_a_current_engine():
    records = sessions(120)
    session = chdb.session.Session()
    for sql in statements("segfilter"):
        session.query(sql)
    values = ", ".join(
        "(" + ", ".join(
            _literal(v) for v in rows.session_row(r, 0, i, 1_731_672_000_000)
        ) + ")"
        for i, r in enumerate(records)
    )  # fmt: skip
    session.query(
        f"INSERT INTO segfilter.sessions ({', '.join(rows.SESSION_COLUMNS)}) VALUES {values}"
    )

    @hsettings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(filters.filter(_valid))
    def agree(raw):
        sql, params = to_sql(parse_filter(raw))
        query = f"SELECT session_id FROM segfilter.sessions WHERE {sql}" % escape_params(
            params, None
        )
        found = set(str(session.query(query, "CSV")).split())
        assert {s.strip('"') for s in found} == python_matches(records, raw), raw

    agree()
