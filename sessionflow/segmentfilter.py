"""Segment filters (SPEC §3), pure: parsing, evaluation on a decoded sessionStart record, and the
same predicate as ClickHouse SQL over the ``sessions`` table.

A filter is a condition, or ``{"all": [filter, …]}`` / ``{"any": [filter, …]}``::

    {"field": "params.media.contentType", "op": "eq", "value": "VOD"}
    {"field": "customMetadata.tier", "op": "in", "value": ["gold", "silver"]}
    {"field": "params.media.show", "op": "prefix", "value": "Formula"}
    {"field": "params.media.resume", "op": "exists"}

``field`` is ``params.<key>`` (the sessionStart's params) or ``customMetadata.<key>``. ``neq`` is
the negation of ``eq``: a session without the field matches it. Both evaluations read a value as
the ``sessions`` table stores it (``sessionflow.storedform``), so the worker's live counts and
the backfill from ClickHouse agree exactly:

- params with a typed column compare by its type: strings as strings, ``media.length`` and
  ``visitor.aamLocationHint`` as numbers, booleans as booleans (the value must have that type);
- every other param and all custom metadata compare as text (strings as they are, numbers and
  booleans as their JSON text: ``5`` matches a stored ``5`` but not ``5.0``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import orjson

from sessionflow.errors import FieldError, InvalidInput
from sessionflow.storedform import COLUMN_OF_PARAM, text, typed
from sessionflow.tables import SESSION_PARAM_COLUMNS

OPS = ("eq", "neq", "in", "prefix", "exists")
MAX_DEPTH = 6
MAX_CONDITIONS = 100
MAX_IN_VALUES = 100
MAX_TEXT = 1000
FIELD_PREFIXES = {"params.": "params", "customMetadata.": "custom_metadata"}

Scalar = str | int | float | bool
Record = Mapping[str, Any]


class Kind(Enum):
    STRING = "string"
    NUMBER = "number"
    BOOLEAN = "boolean"
    TEXT = "text"


@dataclass(frozen=True)
class Field:
    """Where a filter field lives in a record and in ``sessions``."""

    name: str  # as written in the filter
    member: str  # "params" or "custom_metadata" in the record
    key: str
    column: str | None  # typed column of `sessions`, else the key/value arrays
    clickhouse_type: str
    kind: Kind

    @property
    def nullable(self) -> bool:
        return self.clickhouse_type.startswith("Nullable")

    def stored(self, record: Record) -> Any:
        """The value as stored in ClickHouse; ``None`` when the row has none."""
        mapping = record[self.member]
        if self.column is not None:
            return typed(mapping.get(self.key), self.clickhouse_type)
        return text(mapping[self.key]) if self.key in mapping else None


@dataclass(frozen=True)
class Condition:
    field: Field
    op: str
    values: tuple[Scalar, ...]  # one for eq/neq/prefix, several for in, none for exists


@dataclass(frozen=True)
class Combination:
    op: str  # "all" or "any"
    parts: tuple[Node, ...]


Node = Condition | Combination


def _field(name: str) -> Field | None:
    for prefix, member in FIELD_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            key = name[len(prefix) :]
            if member == "params" and key in COLUMN_OF_PARAM:
                column = COLUMN_OF_PARAM[key]
                ch_type = SESSION_PARAM_COLUMNS[column][1]
                kind = (
                    Kind.BOOLEAN
                    if "UInt8" in ch_type
                    else Kind.NUMBER
                    if "Float64" in ch_type or "Int64" in ch_type
                    else Kind.STRING
                )
                return Field(name, member, key, column, ch_type, kind)
            return Field(name, member, key, None, "String", Kind.TEXT)
    return None


def _scalar_ok(kind: Kind, value: Any) -> bool:
    if kind is Kind.BOOLEAN:
        return isinstance(value, bool)
    if kind is Kind.NUMBER:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is Kind.STRING:
        return isinstance(value, str) and len(value) <= MAX_TEXT
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    return isinstance(value, int | float | bool) and abs(value) < 2**53


class _Parser:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.conditions = 0

    def fail(self, path: str, error: str) -> None:
        self.errors.append(FieldError(path, f"{path}: {error}"))

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        if not isinstance(raw, dict):
            self.fail(path, "must be an object")
            return None
        if depth > MAX_DEPTH:
            self.fail(path, f"nests deeper than {MAX_DEPTH} levels")
            return None
        combos = [k for k in ("all", "any") if k in raw]
        if combos:
            if len(raw) != 1:
                self.fail(path, "an 'all' or 'any' object has that one member only")
                return None
            op = combos[0]
            parts_raw = raw[op]
            if not isinstance(parts_raw, list) or not parts_raw:
                self.fail(f"{path}.{op}", "must be a non-empty list of filters")
                return None
            parts = [self.node(p, f"{path}.{op}[{i}]", depth + 1) for i, p in enumerate(parts_raw)]
            if any(p is None for p in parts):
                return None
            return Combination(op, tuple(p for p in parts if p is not None))
        return self.condition(raw, path)

    def condition(self, raw: dict[str, Any], path: str) -> Condition | None:
        self.conditions += 1
        unknown = sorted(set(raw) - {"field", "op", "value"})
        if unknown:
            self.fail(path, f"unknown members {unknown} (a condition has field, op, value)")
            return None
        name = raw.get("field")
        field = _field(name) if isinstance(name, str) else None
        if field is None:
            self.fail(f"{path}.field", "must be 'params.<key>' or 'customMetadata.<key>'")
            return None
        op = raw.get("op")
        if op not in OPS:
            self.fail(f"{path}.op", f"must be one of {', '.join(OPS)}")
            return None
        if op == "exists":
            if "value" in raw:
                self.fail(f"{path}.value", "'exists' takes no value")
                return None
            return Condition(field, op, ())
        if "value" not in raw:
            self.fail(f"{path}.value", f"'{op}' needs a value")
            return None
        value = raw["value"]
        if op == "in":
            if not isinstance(value, list) or not 1 <= len(value) <= MAX_IN_VALUES:
                self.fail(f"{path}.value", f"'in' needs a list of 1 to {MAX_IN_VALUES} values")
                return None
            values = tuple(value)
        else:
            values = (value,)
        if op == "prefix" and (
            field.kind not in (Kind.STRING, Kind.TEXT) or not isinstance(value, str)
        ):
            self.fail(f"{path}.value", "'prefix' needs a string value and a text field")
            return None
        for v in values:
            if not _scalar_ok(field.kind, v):
                self.fail(
                    f"{path}.value", f"{field.name} compares as {field.kind.value}: bad value {v!r}"
                )
                return None
        return Condition(field, op, values)


def parse_filter(raw: Any, path: str = "filter") -> Node:
    """The filter ``raw`` (decoded JSON), or ``InvalidInput`` naming every problem."""
    parser = _Parser()
    node = parser.node(raw, path, 1)
    if parser.conditions > MAX_CONDITIONS:
        parser.fail(path, f"has more than {MAX_CONDITIONS} conditions")
    if parser.errors or node is None:
        raise InvalidInput("invalid segment filter", parser.errors)
    return node


def to_json(node: Node) -> Any:
    """The filter as JSON-ready data (the canonical form stored and published)."""
    if isinstance(node, Combination):
        return {node.op: [to_json(p) for p in node.parts]}
    out: dict[str, Any] = {"field": node.field.name, "op": node.op}
    if node.op == "in":
        out["value"] = list(node.values)
    elif node.op != "exists":
        out["value"] = node.values[0]
    return out


def canonical(node: Node) -> str:
    return orjson.dumps(to_json(node)).decode()


# --- evaluation on a decoded record -------------------------------------------------------


def _equal(field: Field, stored: Any, value: Scalar) -> bool:
    if stored is None:
        return False
    if field.kind is Kind.NUMBER:
        return float(stored) == float(value)
    if field.kind is Kind.BOOLEAN:
        return bool(stored == (1 if value else 0))
    return bool(stored == text(value))


def compile_matcher(node: Node) -> Callable[[Record], bool]:
    """A predicate on a decoded sessionStart record (``params``, ``custom_metadata``)."""
    if isinstance(node, Combination):
        parts = [compile_matcher(p) for p in node.parts]
        if node.op == "all":
            return lambda record: all(p(record) for p in parts)
        return lambda record: any(p(record) for p in parts)
    field, op, values = node.field, node.op, node.values
    if op == "exists":
        return lambda record: field.stored(record) is not None
    if op == "prefix":
        prefix = str(values[0])
        return lambda record: (
            (stored := field.stored(record)) is not None and stored.startswith(prefix)
        )
    if op == "neq":
        return lambda record: not _equal(field, field.stored(record), values[0])
    return lambda record: (
        (stored := field.stored(record)) is not None
        and any(_equal(field, stored, v) for v in values)
    )


# --- the same predicate in ClickHouse SQL -------------------------------------------------


class _Sql:
    def __init__(self, prefix: str) -> None:
        self.params: dict[str, Any] = {}
        self._prefix = prefix

    def param(self, value: Any) -> str:
        name = f"{self._prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s"

    def node(self, node: Node) -> str:
        if isinstance(node, Combination):
            joiner = " AND " if node.op == "all" else " OR "
            return "(" + joiner.join(self.node(p) for p in node.parts) + ")"
        return self.condition(node)

    def _arrays(self, field: Field) -> tuple[str, str]:
        stem = "param" if field.member == "params" else "custom"
        return f"{stem}_keys", f"{stem}_values"

    def _literal(self, field: Field, value: Scalar) -> str:
        if field.kind is Kind.NUMBER:
            return self.param(float(value))
        if field.kind is Kind.BOOLEAN:
            return self.param(1 if value else 0)
        return self.param(text(value))

    def _test(self, field: Field, compare: Callable[[str], str]) -> str:
        """``compare(value_expr)`` where the row has a value, else false."""
        if field.column is not None:
            test = compare(field.column)
            return f"ifNull({test}, 0)" if field.nullable else f"({test})"
        keys, vals = self._arrays(field)
        key = self.param(field.key)
        return f"(has({keys}, {key}) AND {compare(f'{vals}[indexOf({keys}, {key})]')})"

    def condition(self, node: Condition) -> str:
        field, op, values = node.field, node.op, node.values
        if op == "exists":
            if field.column is not None:
                return f"isNotNull({field.column})" if field.nullable else "1"
            keys, _ = self._arrays(field)
            return f"has({keys}, {self.param(field.key)})"
        if op == "prefix":
            prefix = str(values[0])
            size = len(prefix.encode())
            literal = self.param(prefix)
            return self._test(field, lambda v: f"substring({v}, 1, {size}) = {literal}")
        literals = [self._literal(field, v) for v in values]
        test = self._test(
            field, lambda v: "(" + " OR ".join(f"{v} = {lit}" for lit in literals) + ")"
        )
        return f"NOT {test}" if op == "neq" else test


def to_sql(node: Node, param_prefix: str = "f") -> tuple[str, dict[str, Any]]:
    """The filter as a boolean SQL expression over ``sessions`` and its query parameters."""
    sql = _Sql(param_prefix)
    return sql.node(node), sql.params
