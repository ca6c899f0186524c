"""The OpenAPI 3.1 document of the analytics API (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from producers.contract import EVENT_TYPES

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


def _series_schema(field: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["message", "data"],
        "properties": {
            "message": {"const": "success"},
            "data": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["time", field],
                    "properties": {
                        "time": {"type": "string"},
                        field: {"type": "integer", "minimum": 0},
                    },
                },
            },
        },
    }


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
                "503": _error("ClickHouse is unavailable"),
            },
        }
    }


def openapi_document() -> dict[str, Any]:
    """The analytics API's OpenAPI 3.1 document."""
    parameters: list[dict[str, Any]] = [
        {"name": "length", "in": "query", "required": True,
         "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "unit", "in": "query", "schema": {"enum": ["day", "hour"], "default": "day"}},
        {"name": "ending_at", "in": "query", "schema": {"type": "string"},
         "description": "ISO-8601 date-time; offsets Z, +HH:MM, +HHMM or -5:00; default now"},
        {"name": "app_id", "in": "query", "schema": {"type": "string"}},
        {"name": "segment_id", "in": "query", "schema": {"type": "string"}},
    ]  # fmt: skip
    event = {"name": "event", "in": "query", "required": True,
             "schema": {"enum": list(EVENT_TYPES)}}  # fmt: skip
    day_only = [
        {**p, "schema": {"enum": ["day"], "default": "day"}} if p["name"] == "unit" else p
        for p in parameters
    ]
    extra_paths = {
        "/events/data_series": _operation(
            "Media events of one type per hour or day", "eventsDataSeries",
            [event, *parameters], "count",
        ),
        "/kpi/dau/data_series": _operation(
            "Distinct visitors per day", "dauDataSeries", day_only, "dau"
        ),
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessionflow analytics API",
            "version": "1.0",
            "description": "Braze-style session series from pre-aggregated counts.",
        },
        "paths": {
            "/sessions/data_series": _operation(
                "Sessions per hour or day, oldest first, zero-filled",
                "sessionsDataSeries",
                parameters,
                "sessions",
            ),
            **extra_paths,
        },
        "components": {
            "schemas": {"Error": _ERROR},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
