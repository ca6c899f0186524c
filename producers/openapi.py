"""The OpenAPI 3.1 document of the collection API, built from the same event schemas the edge
validates with (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from producers.contract import WIRE_EVENT_TYPES, event_schema

_ERROR = {
    "type": "object",
    "required": ["message", "errors"],
    "properties": {
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["path", "error"],
                "properties": {"path": {"type": "string"}, "error": {"type": "string"}},
            },
        },
    },
}
_CORS_HEADERS = {
    name: {"schema": {"type": "string"}}
    for name in (
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
        "Access-Control-Expose-Headers",
    )
}


def _error(description: str, extra_headers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {**_CORS_HEADERS, **(extra_headers or {})},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _schema(event_type: str) -> dict[str, Any]:
    schema = dict(event_schema(event_type))
    schema.pop("$schema", None)
    return schema


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict[str, Any]:
    """The collection API's OpenAPI 3.1 document."""
    schemas: dict[str, Any] = {"Error": _ERROR}
    for name in WIRE_EVENT_TYPES:
        schemas[f"{name}Event"] = _schema(name)
    other = [
        {"$ref": f"#/components/schemas/{n}Event"} for n in WIRE_EVENT_TYPES if n != "sessionStart"
    ]
    retry = {"Retry-After": {"schema": {"type": "string"}}}
    created = {
        "description": "Session created; the event is durably in Kafka",
        "headers": {"Location": {"schema": {"type": "string"}}, **_CORS_HEADERS},
    }
    preflight = {
        "summary": "CORS preflight",
        "responses": {"204": {"description": "CORS headers", "headers": _CORS_HEADERS}},
    }
    sid = {
        "name": "sid",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }
    common_errors = {
        "400": _error("The body failed validation; every problem is listed"),
        "413": _error("The body is larger than the limit"),
        "415": _error("The body is not JSON"),
        "503": _error("Kafka did not acknowledge in time; retry later", retry),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "sessionflow collection API",
            "version": "1.0",
            "description": "Adobe Media Collection API: session events in, Avro on Kafka out.",
        },
        "paths": {
            "/api/v1/sessions": {
                "post": {
                    "summary": "Start a session",
                    "operationId": "createSession",
                    "requestBody": _json_body({"$ref": "#/components/schemas/sessionStartEvent"}),
                    "responses": {"201": created, **common_errors},
                },
                "options": preflight,
            },
            "/api/v1/sessions/{sid}/events": {
                "post": {
                    "parameters": [sid],
                    "summary": "Send an event of a session",
                    "operationId": "sendEvent",
                    "requestBody": _json_body({"oneOf": other}),
                    "responses": {
                        "204": {"description": "Accepted", "headers": _CORS_HEADERS},
                        "404": _error("Unknown session id"),
                        "410": _error("The session is older than 24 hours"),
                        **common_errors,
                    },
                },
                "options": {
                    **preflight,
                    "parameters": [
                        {
                            "name": "sid",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                },
            },
            "/api/v1/downloaded": {
                "post": {
                    "summary": "Send a downloaded session: its events, sessionStart first",
                    "operationId": "sendDownloaded",
                    "requestBody": _json_body(
                        {
                            "type": "array",
                            "minItems": 1,
                            "prefixItems": [
                                {
                                    "allOf": [
                                        {"$ref": "#/components/schemas/sessionStartEvent"},
                                        {
                                            "properties": {
                                                "params": {
                                                    "required": ["media.downloaded"],
                                                    "properties": {
                                                        "media.downloaded": {"const": True}
                                                    },
                                                }
                                            }
                                        },
                                    ]
                                }
                            ],
                            "items": {"oneOf": other},
                        }
                    ),
                    "responses": {"201": created, **common_errors},
                },
                "options": preflight,
            },
            "/api/v1/schemas/{eventType}": {
                "get": {
                    "summary": "The JSON Schema of an event type's body",
                    "operationId": "getSchema",
                    "parameters": [
                        {
                            "name": "eventType",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "JSON Schema (draft 7)",
                            "headers": _CORS_HEADERS,
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "404": _error("Unknown event type"),
                    },
                },
            },
        },
        "components": {"schemas": schemas},
    }
