"""Parsing of the read API's inputs (pure): data-series query parameters and segment
definitions. Every problem is reported, by name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import orjson

from sessionflow.errors import FieldError, InvalidInput
from sessionflow.segmentfilter import Node, parse_filter
from sessionflow.timebuckets import OFFSET_STEP_MS, Unit

MAX_LENGTH = 100
MAX_NAME = 200
SEGMENT_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

_DATE_TIME = re.compile(
    r"\A(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"(?P<tz>[Zz]|[+-]\d{1,2}(?::?\d{2})?)?)?\Z"
)


@dataclass(frozen=True)
class SeriesQuery:
    """A validated data-series request."""

    length: int
    unit: Unit
    ending_at: datetime
    app_id: str | None
    segment_id: str | None


def parse_offset(text: str) -> timezone:
    """``Z``, ``±HH:MM``, ``±HHMM``, ``±HH`` and Braze's ``-5:00`` into a fixed offset."""
    if text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    body = text[1:]
    if ":" in body:
        hours_text, minutes_text = body.split(":", 1)
    elif len(body) > 2:
        hours_text, minutes_text = body[:-2], body[-2:]
    else:
        hours_text, minutes_text = body, "0"
    hours, minutes = int(hours_text), int(minutes_text)
    if minutes >= 60 or hours > 14 or (hours == 14 and minutes):
        raise ValueError("offset out of range")
    delta = sign * timedelta(hours=hours, minutes=minutes)
    if (delta // timedelta(milliseconds=1)) % OFFSET_STEP_MS:
        raise ValueError("offset must be a multiple of 15 minutes")
    return timezone(delta) if delta else UTC


def parse_ending_at(text: str) -> datetime:
    """An ISO-8601 date-time; no offset means UTC; a bare date means the end of that day."""
    match = _DATE_TIME.match(text.strip())
    if not match:
        raise ValueError("not an ISO-8601 date-time")
    day = datetime.strptime(match["date"], "%Y-%m-%d")
    zone = parse_offset(match["tz"]) if match["tz"] else UTC
    if match["h"] is None:
        return datetime(day.year, day.month, day.day, 23, 59, 59, 999_000, tzinfo=zone)
    frac = (match["frac"] or "0").ljust(6, "0")[:6]
    return datetime(
        day.year, day.month, day.day, int(match["h"]), int(match["m"]),
        int(match["s"] or 0), int(frac), tzinfo=zone,
    )  # fmt: skip


def parse_series_query(
    params: Mapping[str, str],
    now: datetime,
    units: tuple[Unit, ...] = (Unit.DAY, Unit.HOUR),
) -> SeriesQuery:
    """Validate the query string of a data-series request served in ``units`` (the first is
    the default); raise ``InvalidInput`` naming each bad parameter."""
    errors: list[FieldError] = []
    length = 0
    raw_length = params.get("length")
    if raw_length is None or raw_length == "":
        errors.append(FieldError("length", "length is required"))
    else:
        try:
            length = int(raw_length)
        except ValueError:
            errors.append(FieldError("length", "length must be an integer"))
        else:
            if not 1 <= length <= MAX_LENGTH:
                errors.append(FieldError("length", f"length must be between 1 and {MAX_LENGTH}"))
    unit = units[0]
    raw_unit = params.get("unit")
    if raw_unit is not None:
        if raw_unit in units:
            unit = Unit(raw_unit)
        else:
            allowed = " or ".join(f"'{u.value}'" for u in units)
            errors.append(FieldError("unit", f"unit must be {allowed}"))
    ending_at = now
    raw_end = params.get("ending_at") or None  # empty means absent, as for app_id
    if raw_end is not None:
        try:
            ending_at = parse_ending_at(raw_end)
        except ValueError as exc:
            errors.append(FieldError("ending_at", f"ending_at is invalid: {exc}"))
    app_id = params.get("app_id") or None
    segment_id = params.get("segment_id") or None
    if errors:
        raise InvalidInput("invalid parameters", errors)
    return SeriesQuery(length, unit, ending_at, app_id, segment_id)


@dataclass(frozen=True)
class SegmentDefinition:
    """A validated ``PUT /segments/{id}`` body."""

    name: str
    app_id: str | None
    filter: Node


def check_segment_id(segment_id: str) -> None:
    if not SEGMENT_ID.match(segment_id):
        raise InvalidInput(
            "invalid parameters",
            [FieldError("segment_id", "segment_id must be 1 to 64 of A-Z a-z 0-9 . _ - "
                        "(starting with a letter or digit)")],
        )  # fmt: skip


def parse_segment_definition(body: bytes) -> SegmentDefinition:
    """Validate a segment definition: ``{"name": str, "app_id": str | null, "filter": {…}}``."""
    try:
        raw = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        error = FieldError("body", f"body is not JSON: {exc}")
        raise InvalidInput("invalid segment", [error]) from None
    if not isinstance(raw, dict):
        raise InvalidInput("invalid segment", [FieldError("body", "body must be a JSON object")])
    errors: list[FieldError] = []
    unknown = sorted(set(raw) - {"name", "app_id", "filter"})
    if unknown:
        errors.append(FieldError("body", f"unknown members {unknown}: use name, app_id, filter"))
    name = raw.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME:
        errors.append(FieldError("name", f"name must be a string of 1 to {MAX_NAME} characters"))
    app_id = raw.get("app_id")
    if app_id is not None and (not isinstance(app_id, str) or not 1 <= len(app_id) <= MAX_NAME):
        errors.append(FieldError("app_id", "app_id must be null or a non-empty string"))
    node = None
    if "filter" not in raw:
        errors.append(FieldError("filter", "filter is required"))
    else:
        try:
            node = parse_filter(raw["filter"])
        except InvalidInput as exc:
            errors.extend(exc.errors)
    if errors or node is None or not isinstance(name, str):
        raise InvalidInput("invalid segment", errors)
    return SegmentDefinition(name, app_id, node)
