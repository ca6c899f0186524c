"""Validation of media event bodies against ``producers.contract``: a fast compiled check for the
common case, and a full report of every problem (JSON Pointer + message) when it fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema
from jsonschema import Draft7Validator, ValidationError

from producers.contract import (
    ENVELOPE,
    EVENT_ALIASES,
    EVENT_TYPES,
    UNKNOWN_LIVE_LENGTH_SECONDS,
    WIRE_EVENT_TYPES,
    event_schema,
)
from sessionflow.errors import FieldError, InvalidInput

Scalar = str | int | float | bool
SESSION_START = frozenset({"sessionStart"})
NOT_SESSION_START = frozenset(EVENT_TYPES) - SESSION_START


@dataclass(frozen=True)
class ValidEvent:
    """A media event body that satisfied its schema."""

    event_type: str
    playhead: float
    ts_ms: int
    params: dict[str, Scalar] = field(default_factory=dict)
    custom_metadata: dict[str, str] = field(default_factory=dict)
    qoe_data: dict[str, Scalar] = field(default_factory=dict)


def pointer(parts: Iterable[Any]) -> str:
    """RFC 6901 JSON Pointer of a path inside the body (``""`` is the body itself)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


_TYPE_NAMES = {
    "string": "a string", "number": "a number", "integer": "an integer",
    "boolean": "a boolean", "object": "an object", "array": "an array", "null": "null",
}  # fmt: skip


def _type_phrase(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in expected)
    return _TYPE_NAMES.get(expected, str(expected))


def _explain(error: ValidationError) -> list[FieldError]:
    """Turn one jsonschema error into the client-facing (path, message) pairs."""
    where = list(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required" and isinstance(instance, dict):
        return [
            FieldError(pointer([*where, name]), "is required")
            for name in expected
            if name not in instance
        ]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        return [
            FieldError(pointer([*where, name]), "is not allowed here")
            for name in instance
            if name not in known
        ]
    if kind == "type":
        return [FieldError(pointer(where), f"must be {_type_phrase(expected)}")]
    if kind == "const":
        return [FieldError(pointer(where), f"must be {expected!r}")]
    if kind == "enum":
        return [FieldError(pointer(where), "must be one of: " + ", ".join(map(str, expected)))]
    if kind == "minimum" and where == ["params", "media.length"]:
        return [
            FieldError(
                pointer(where),
                f"must be >= 0 (seconds; a live stream of unknown length sends "
                f"{UNKNOWN_LIVE_LENGTH_SECONDS})",
            )
        ]
    if kind == "minimum":
        return [FieldError(pointer(where), f"must be >= {expected}")]
    if kind == "maximum":
        return [FieldError(pointer(where), f"must be <= {expected}")]
    if kind == "maxProperties" and expected == 0:
        return [FieldError(pointer(where), "must be empty or absent")]
    if kind == "pattern" and "propertyNames" in error.schema_path:
        return [
            FieldError(
                pointer([*where, instance]),
                "key must match [A-Za-z0-9_.]+ and not start with 'media.' or 'a.'",
            )
        ]
    if kind == "anyOf" and isinstance(instance, dict) and instance.get("eventType") == "error":
        return [
            FieldError(
                "/qoeData/media.qoe.errorID",
                "error events need an error id in qoeData 'media.qoe.errorID' "
                "or params 'media.errorId'",
            )
        ]
    return [FieldError(pointer(where), error.message)]


class EventValidator:
    """Validates request bodies; compiled once per process."""

    def __init__(self) -> None:
        self.schemas = {name: event_schema(name) for name in WIRE_EVENT_TYPES}
        self._fast = {name: fastjsonschema.compile(s) for name, s in self.schemas.items()}
        self._full = {name: Draft7Validator(s) for name, s in self.schemas.items()}
        self._envelope = Draft7Validator(ENVELOPE)

    def validate(self, body: object, allowed: frozenset[str]) -> ValidEvent:
        """Check ``body`` is an event whose type is in ``allowed``; raise ``InvalidInput``."""
        if not isinstance(body, dict):
            raise InvalidInput("body must be a JSON object", [FieldError("", "must be an object")])
        event_type = body.get("eventType")
        if not isinstance(event_type, str) or event_type not in self._fast:
            raise InvalidInput("invalid event", self._report(self._envelope, body))
        canonical = EVENT_ALIASES.get(event_type, event_type)
        if canonical not in allowed:
            expected = (
                " or ".join(sorted(allowed))
                if len(allowed) < 3
                else "not " + ", ".join(sorted(set(EVENT_TYPES) - allowed))
            )
            raise InvalidInput(
                "event type not accepted on this path",
                [FieldError("/eventType", f"must be {expected} on this path")],
            )
        try:
            self._fast[event_type](body)
        except fastjsonschema.JsonSchemaException:
            raise InvalidInput(
                f"invalid {event_type} event", self._report(self._full[event_type], body)
            ) from None
        player_time = body["playerTime"]
        return ValidEvent(
            event_type=canonical,
            playhead=float(player_time["playhead"]),
            ts_ms=int(player_time["ts"]),
            params=dict(body.get("params") or {}),
            custom_metadata=dict(body.get("customMetadata") or {}),
            qoe_data=dict(body.get("qoeData") or {}),
        )

    def validate_downloaded(self, body: object) -> list[ValidEvent]:
        """A downloaded session: a JSON array of its events, first a sessionStart with
        ``media.downloaded: true``. Any invalid event rejects the whole batch; paths name the
        index (``/3/params/media.id``)."""
        if not isinstance(body, list) or not body:
            raise InvalidInput(
                "body must be a non-empty JSON array of events",
                [FieldError("", "must be a non-empty array")],
            )
        errors: list[FieldError] = []
        events: list[ValidEvent] = []
        for index, item in enumerate(body):
            allowed = SESSION_START if index == 0 else NOT_SESSION_START
            try:
                events.append(self.validate(item, allowed))
            except InvalidInput as exc:
                errors.extend(FieldError(f"/{index}{e.path}", e.error) for e in exc.errors)
        if not errors and events[0].params.get("media.downloaded") is not True:
            errors.append(FieldError("/0/params/media.downloaded", "must be true"))
        if errors:
            raise InvalidInput("invalid downloaded session", errors)
        return events

    @staticmethod
    def _report(validator: Draft7Validator, body: object) -> list[FieldError]:
        found: dict[tuple[str, str], FieldError] = {}
        for error in validator.iter_errors(body):
            for item in _explain(error):
                found.setdefault((item.path, item.error), item)
        if not found:  # the fast and the full validator disagree: still name something
            found[("", "")] = FieldError("", "body does not match the event schema")
        return sorted(found.values(), key=lambda e: (_natural(e.path), e.error))


def _natural(path: str) -> list[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]
