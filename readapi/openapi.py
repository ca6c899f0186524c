"""The OpenAPI 3.1 document of the read API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from readapi.series import QOE_METRICS
from sessionflow.events import EVENT_TYPES

_RATE_HEADERS = {
    name: {"schema": {"type": "string"}, "required": True}
    for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
}
_ERROR = {
    "type": "object",
    "required": ["message", "errors"],
    "properties": {
        "message": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _RATE_HEADERS,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _success(member: str, schema: dict[str, Any]) -> dict[str, Any]:
    """Braze's success body: ``{"message": "success", member: …}``."""
    return {
        "type": "object",
        "required": ["message", member],
        "properties": {"message": {"const": "success"}, member: schema},
    }


def _series_schema(field: str) -> dict[str, Any]:
    return _success(
        "data",
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["time", field],
                "properties": {
                    "time": {"type": "string"},
                    field: (
                        {"type": ["number", "null"], "minimum": 0}
                        if field == "value"
                        else {"type": "integer", "minimum": 0}
                    ),
                },
            },
        },
    )


def _operation(summary: str, operation_id: str, parameters: list[Any], field: str) -> Any:
    return {
        "get": {
            "summary": summary,
            "operationId": operation_id,
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                "200": {
                    "description": "The series",
                    "headers": _RATE_HEADERS,
                    "content": {"application/json": {"schema": _series_schema(field)}},
                },
                "400": _error("Bad parameters, each named"),
                "401": _error("Missing or unknown API key"),
                "403": _error("The key lacks the permission or the app"),
                "404": _error("Unknown segment"),
                "429": _error("Over the key's rate limit"),
                "503": _error("ClickHouse is unavailable, or the segment is still backfilling"),
            },
        }
    }


_SEGMENT_ID = {
    "name": "segment_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
}
_SCALAR = {"type": ["string", "number", "boolean"]}
_FILTER_SCHEMAS: dict[str, Any] = {
    "Filter": {
        "description": "A condition, or all/any of a non-empty list of filters (depth <= 6, "
        "<= 100 conditions). See the README for how values compare.",
        "oneOf": [
            {"$ref": "#/components/schemas/Condition"},
            {"type": "object", "required": ["all"], "additionalProperties": False,
             "properties": {"all": {"type": "array", "minItems": 1,
                                    "items": {"$ref": "#/components/schemas/Filter"}}}},
            {"type": "object", "required": ["any"], "additionalProperties": False,
             "properties": {"any": {"type": "array", "minItems": 1,
                                    "items": {"$ref": "#/components/schemas/Filter"}}}},
        ],
    },
    "Condition": {
        "type": "object",
        "required": ["field", "op"],
        "additionalProperties": False,
        "properties": {
            "field": {"type": "string", "pattern": "^(params|customMetadata)[.].",
                      "description": "params.<key> or customMetadata.<key>"},
            "op": {"enum": ["eq", "neq", "in", "prefix", "exists"]},
            "value": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR,
                                          "minItems": 1, "maxItems": 100}],
                      "description": "a scalar (eq, neq), a string (prefix), a list (in); "
                      "none for exists"},
        },
    },
    "SegmentDefinition": {
        "type": "object",
        "required": ["name", "filter"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "app_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 200},
            "filter": {"$ref": "#/components/schemas/Filter"},
        },
    },
    "SegmentAnswer": _success("segment", {
        "type": "object",
        "required": ["segment_id", "name", "app_id", "filter", "status", "created_at"],
        "properties": {
            "segment_id": {"type": "string"},
            "name": {"type": "string"},
            "app_id": {"type": ["string", "null"]},
            "filter": {"$ref": "#/components/schemas/Filter"},
            "status": {"enum": ["backfilling", "ready"]},
            "created_at": {"type": "string"},
        },
    }),
}  # fmt: skip


def _segment_answer(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": _RATE_HEADERS,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SegmentAnswer"}}},
    }


def _segment_paths() -> dict[str, Any]:
    common = {
        "400": _error("Bad segment id or definition, each problem named"),
        "401": _error("Missing or unknown API key"),
        "403": _error("The key lacks segments.write (or sessions.data_series to read) or the app"),
        "429": _error("Over the key's rate limit"),
        "503": _error("Kafka or ClickHouse is unavailable (Retry-After)"),
    }
    return {
        "/segments/{segment_id}": {
            "parameters": [_SEGMENT_ID],
            "put": {
                "summary": "Define or redefine a segment; its counts are backfilled from the "
                "stored sessions and counted live from then on",
                "operationId": "putSegment",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/SegmentDefinition"}
                        }
                    },
                },
                "responses": {
                    "200": _segment_answer("Redefined (or unchanged), backfilled"),
                    "201": _segment_answer("Created, backfilled: its series is complete"),
                    "202": _segment_answer("Defined, backfill still running (status backfilling)"),
                    "409": _error("The app already has the maximum number of segments"),
                    **common,
                },
            },
            "get": {
                "summary": "A segment's definition and status",
                "operationId": "getSegment",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _segment_answer("The segment"),
                    "404": _error("Unknown segment"),
                    **common,
                },
            },
            "delete": {
                "summary": "Delete a segment (its series answers 404 from then on)",
                "operationId": "deleteSegment",
                "security": [{"bearer": []}],
                "responses": {
                    "204": {"description": "Deleted", "headers": _RATE_HEADERS},
                    "404": _error("Unknown segment"),
                    **common,
                },
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The read API's OpenAPI 3.1 document."""
    parameters: list[dict[str, Any]] = [
        {"name": "length", "in": "query", "required": True,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "unit", "in": "query", "schema": {"enum": ["day", "hour"], "default": "day"}},
        {"name": "ending_at", "in": "query", "schema": {"type": "string"},
         "description": "ISO-8601 date-time; offsets Z, +HH:MM, +HHMM or -5:00; default now"},
        {"name": "app_id", "in": "query", "schema": {"type": "string"}},
    ]  # fmt: skip
    segment = {"name": "segment_id", "in": "query", "schema": {"type": "string"},
               "description": "a segment defined with PUT /segments/{segment_id}"}  # fmt: skip
    event = {"name": "event", "in": "query", "required": True,
             "schema": {"enum": list(EVENT_TYPES)}}  # fmt: skip
    day_only = [
        {**p, "schema": {"enum": ["day"], "default": "day"}} if p["name"] == "unit" else p
        for p in parameters
    ]
    metric = {"name": "metric", "in": "query", "required": True,
              "schema": {"enum": list(QOE_METRICS)}}  # fmt: skip
    by_minute = [
        {**p, "schema": {"enum": ["minute", "hour"], "default": "minute"}}
        if p["name"] == "unit" else p
        for p in parameters
    ]  # fmt: skip
    extra_paths = {
        "/events/data_series": _operation(
            "Media events of one type per hour or day", "eventsDataSeries",
            [event, *parameters], "count",
        ),
        "/kpi/dau/data_series": _operation(
            "Distinct visitors per day", "dauDataSeries", day_only, "dau"
        ),
        "/kpi/qoe/data_series": _operation(
            "A quality-of-experience metric over the closed sessions that started in each "
            "bucket (null: none); with segment_id, the sessions its filter matches",
            "qoeDataSeries", [metric, *parameters, segment], "value",
        ),
        "/kpi/concurrent/data_series": _operation(
            "Concurrent viewers: sessions that sent an event in each minute (edge time); an "
            "hour is its busiest minute", "concurrentDataSeries", by_minute, "viewers",
        ),
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessionflow read API",
            "version": "1.0",
            "description": "Braze-style session series from pre-aggregated counts.",
        },
        "paths": {
            "/sessions/data_series": _operation(
                "Sessions per hour or day, oldest first, zero-filled",
                "sessionsDataSeries",
                [*parameters, segment],
                "sessions",
            ),
            **extra_paths,
            **_segment_paths(),
        },
        "components": {
            "schemas": {"Error": _ERROR, **_FILTER_SCHEMAS},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
