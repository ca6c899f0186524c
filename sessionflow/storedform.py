"""How a media event's param values are stored in ClickHouse (pure).

One definition shared by the sink, which writes the rows, and by segment filters, which must
judge a live record exactly as ClickHouse judges its stored row.
"""

from __future__ import annotations

from typing import Any

import orjson

from sessionflow.tables import SESSION_PARAM_COLUMNS

# Params of `sessions` with a typed column of their own; every other param is stored as text in
# the param_keys/param_values arrays.
TYPED_PARAMS = frozenset(param for param, _ in SESSION_PARAM_COLUMNS.values())
COLUMN_OF_PARAM = {param: column for column, (param, _) in SESSION_PARAM_COLUMNS.items()}


def text(value: Any) -> str:
    """A value as the key/value arrays store it: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def typed(value: Any, clickhouse_type: str) -> Any:
    """A value as a typed column of ``clickhouse_type`` stores it (``None``: SQL NULL)."""
    if value is None:
        if clickhouse_type.startswith("Nullable"):
            return None
        return 0.0 if clickhouse_type == "Float64" else ""
    if "UInt8" in clickhouse_type:
        return 1 if value else 0
    if "Float64" in clickhouse_type:
        return float(value)
    if "Int64" in clickhouse_type:
        return int(value)
    return str(value)
