"""Pure mapping of decoded Avro records to ClickHouse rows (column order as in the constants)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sessionflow.storedform import TYPED_PARAMS, text, typed
from sessionflow.tables import EVENT_TYPED_COLUMNS, SESSION_PARAM_COLUMNS

SESSION_COLUMNS: tuple[str, ...] = (
    "session_id", "org_id", "app_id", "session_time", "session_time_ms", "session_time_source",
    "received_ms", "player_ts_ms", "playhead", *SESSION_PARAM_COLUMNS,
    "param_keys", "param_values", "custom_keys", "custom_values", "qoe_keys", "qoe_values",
    "user_agent", "source_partition", "source_offset", "ingested_at",
)  # fmt: skip

EVENT_COLUMNS: tuple[str, ...] = (
    "session_id", "event_type", "event_time", "received_ms", "player_ts_ms", "playhead",
    "session_time_ms", "session_time_source", "org_id", "app_id", "user_agent",
    *EVENT_TYPED_COLUMNS, "param_keys", "param_values", "custom_keys", "custom_values",
    "qoe_keys", "qoe_values", "source_partition", "source_offset", "ingested_at",
)  # fmt: skip

COUNT_COLUMNS: tuple[str, ...] = (
    "org_id", "app_id", "segment_id", "unit", "bucket_start", "source_partition", "origin",
    "count", "version",
)  # fmt: skip

SUMMARY_COLUMNS: tuple[str, ...] = (
    "session_id", "org_id", "app_id", "session_time", "session_time_ms", "startup_time_ms",
    "played_ms", "buffering_ms", "completed", "exited_before_start", "closed_reason",
    "closed_at_ms", "source_partition", "source_offset", "ingested_at",
)  # fmt: skip

Row = tuple[Any, ...]
ERROR_ID_INDEX = list(EVENT_TYPED_COLUMNS).index("error_id")
# Each typed event column by the member and key it comes from: a row fills only the columns of
# the keys its record has (most events have none: a ping's params are empty).
_EVENT_SLOTS: dict[str, dict[str, tuple[int, str]]] = {"params": {}, "qoe_data": {}}
for _index, (_member, _key, _type) in enumerate(EVENT_TYPED_COLUMNS.values()):
    _EVENT_SLOTS[_member][_key] = (_index, _type)
_NO_TYPED_VALUES = [typed(None, typ) for _, _, typ in EVENT_TYPED_COLUMNS.values()]


def moment(ms: int) -> int:
    """A ``DateTime`` column's value: whole seconds since the epoch (UTC), as ClickHouse stores
    it. clickhouse-driver sends an int as it is; an aware datetime it converts through its
    timezone for every row (a tenth of the sink's time in a burst of sessionStarts)."""
    return ms // 1000


def _pairs(
    mapping: Mapping[str, Any], skip: set[str] | frozenset[str] = frozenset()
) -> tuple[list[str], list[str]]:
    if not mapping:
        return [], []
    keys = sorted(mapping.keys() - skip) if skip else sorted(mapping)
    return keys, [text(mapping[k]) for k in keys]


def session_row(record: Mapping[str, Any], partition: int, offset: int, now_ms: int) -> Row:
    """The ``sessions`` row of a sessionStart record."""
    params = record["params"]
    columns = [typed(params.get(param), typ) for param, typ in SESSION_PARAM_COLUMNS.values()]
    param_keys, param_values = _pairs(params, TYPED_PARAMS)
    custom_keys, custom_values = _pairs(record["custom_metadata"])
    qoe_keys, qoe_values = _pairs(record["qoe_data"])
    at_ms = int(record["session_time_ms"])
    return (
        record["session_id"], record["org_id"], record["app_id"], moment(at_ms), at_ms,
        record["session_time_source"], record["received_ms"], record["player_ts_ms"],
        record["playhead"], *columns, param_keys, param_values, custom_keys, custom_values,
        qoe_keys, qoe_values, record.get("user_agent"), partition, offset, moment(now_ms),
    )  # fmt: skip


def event_row(record: Mapping[str, Any], partition: int, offset: int, now_ms: int) -> Row:
    """The ``events`` row of any media event record."""
    params, qoe_data = record["params"], record["qoe_data"]
    param_keys, param_values = _pairs(params)
    custom_keys, custom_values = _pairs(record["custom_metadata"])
    qoe_keys, qoe_values = _pairs(qoe_data)
    columns = _NO_TYPED_VALUES.copy()
    for member, values in (("params", params), ("qoe_data", qoe_data)):
        if values:
            slots = _EVENT_SLOTS[member]
            for key in values.keys() & slots.keys():
                index, typ = slots[key]
                columns[index] = typed(values[key], typ)
    if columns[ERROR_ID_INDEX] is None and "media.errorId" in params:
        columns[ERROR_ID_INDEX] = text(params["media.errorId"])
    return (
        record["session_id"], record["event_type"], moment(record["received_ms"]),
        record["received_ms"], record["player_ts_ms"], record["playhead"],
        record["session_time_ms"], record["session_time_source"], record["org_id"] or "",
        record["app_id"] or "", record.get("user_agent"), *columns, param_keys, param_values,
        custom_keys, custom_values, qoe_keys, qoe_values, partition, offset, moment(now_ms),
    )  # fmt: skip


def count_rows(record: Mapping[str, Any]) -> list[Row]:
    """The ``session_counts`` rows of a ``SessionCount`` record (its window and ``more``)."""
    return [
        (record["org_id"], record["app_id"], window["segment_id"], window["unit"],
         moment(window["bucket_start_ms"]), record["source_partition"], "stream",
         window["count"], window["version"])
        for window in (record, *record.get("more", ()))
    ]  # fmt: skip


def summary_row(record: Mapping[str, Any], partition: int, offset: int, now_ms: int) -> Row:
    """One ``session_summaries`` row from a ``SessionSummary`` record."""
    return (
        record["session_id"], record["org_id"], record["app_id"],
        moment(record["session_time_ms"]), record["session_time_ms"], record["startup_time_ms"],
        record["played_ms"], record["buffering_ms"], int(record["completed"]),
        int(record["exited_before_start"]), record["closed_reason"], record["closed_at_ms"],
        partition, offset, moment(now_ms),
    )  # fmt: skip
