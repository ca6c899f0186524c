"""Avro single-object encoding of sessionflow records, from the ``.avsc`` files alone.

A value is ``C3 01`` + the 8-byte CRC-64-AVRO fingerprint (little-endian) of the writer schema's
canonical form + the Avro binary body. Every version of a schema stays in this folder
(``name.vN.avsc``); a reader resolves records written with any of them into the newest.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from sessionflow.errors import SerializationError

MARKER = b"\xc3\x01"
HEADER_BYTES = len(MARKER) + 8
_VERSIONED = re.compile(r"\A(?P<name>[a-z_]+)\.v(?P<version>\d+)\.avsc\Z")


class AvroCodec:
    """Encoder and decoder for one record type, across all its schema versions."""

    def __init__(self, schemas: Mapping[int, Mapping[str, Any]]) -> None:
        if not schemas:
            raise ValueError("no schema versions")
        self._by_fingerprint: dict[bytes, Any] = {}
        self._versions: dict[int, Any] = {}
        for version, raw in sorted(schemas.items()):
            parsed = fastavro.parse_schema(dict(raw))
            canonical = to_parsing_canonical_form(parsed)
            self._by_fingerprint[bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))] = parsed
            self._versions[version] = parsed
        self.latest_version = max(self._versions)
        self.schema = self._versions[self.latest_version]
        self._header = MARKER + next(
            fp for fp, schema in self._by_fingerprint.items() if schema is self.schema
        )

    def encode(self, record: Mapping[str, Any], version: int | None = None) -> bytes:
        """Encode ``record`` with the newest schema (or an older ``version``, for tests)."""
        schema = self.schema if version is None else self._versions[version]
        header = self._header if version is None else MARKER + self.fingerprint_of(version)
        out = io.BytesIO()
        out.write(header)
        try:
            fastavro.schemaless_writer(out, schema, record)
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise SerializationError(f"cannot encode record: {exc}") from exc
        return out.getvalue()

    def fingerprint_of(self, version: int) -> bytes:
        schema = self._versions[version]
        return next(fp for fp, s in self._by_fingerprint.items() if s is schema)

    def written_by(self, data: bytes) -> bool:
        """Whether ``data`` was written with one of this record type's schemas."""
        return data[:2] == MARKER and bytes(data[2:HEADER_BYTES]) in self._by_fingerprint

    def decode(self, data: bytes) -> dict[str, Any]:
        """Decode a single-object-encoded value into a dict shaped by the newest schema."""
        if len(data) < HEADER_BYTES or data[:2] != MARKER:
            raise SerializationError("not Avro single-object encoding (bad marker)")
        writer = self._by_fingerprint.get(bytes(data[2:HEADER_BYTES]))
        if writer is None:
            raise SerializationError("unknown writer schema fingerprint")
        buffer = io.BytesIO(data[HEADER_BYTES:])
        try:
            record = fastavro.schemaless_reader(buffer, writer, self.schema)
        except (ValueError, TypeError, KeyError, EOFError, IndexError, UnicodeDecodeError) as exc:
            raise SerializationError(f"cannot decode record: {exc}") from exc
        if buffer.read(1):
            raise SerializationError("trailing bytes after the record")
        if not isinstance(record, dict):
            raise SerializationError("decoded value is not a record")
        return record


def load_schemas(name: str) -> dict[int, dict[str, Any]]:
    """Every version of schema ``name`` shipped in this package, by version number."""
    import json

    found: dict[int, dict[str, Any]] = {}
    for entry in resources.files(__package__).iterdir():
        match = _VERSIONED.match(entry.name)
        if match and match["name"] == name:
            found[int(match["version"])] = json.loads(entry.read_text())
    return found


@cache
def media_events() -> AvroCodec:
    """Codec of the ``MediaEvent`` records on the media-events topic."""
    return AvroCodec(load_schemas("media_event"))


@cache
def session_counts() -> AvroCodec:
    """Codec of the ``SessionCount`` records on the session-counts topic."""
    return AvroCodec(load_schemas("session_count"))


@cache
def segment_markers() -> AvroCodec:
    """Codec of the ``SegmentMarker`` records the read API writes into media-events."""
    return AvroCodec(load_schemas("segment_marker"))


def _read_long(data: bytes, at: int) -> tuple[int, int]:
    """An Avro long (zig-zag varint) at ``at``: (value, position after it)."""
    shift = 0
    result = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), at
        shift += 7
        if shift > 63:
            raise SerializationError("malformed Avro long")


def media_event_head(value: bytes) -> tuple[str, str, int, int] | None:
    """``(session_id, event_type, received_ms, player_ts_ms)`` of a MediaEvent value without
    decoding the rest (the first four fields of every version), or ``None`` when ``value`` is
    not a MediaEvent (or is malformed): decode it fully to know why. The worker counts only
    sessionStarts and needs only these fields of every other event (about 60 of a session's
    61 records)."""
    if not media_events().written_by(value):
        return None
    try:
        strings = []
        at = HEADER_BYTES
        for _ in range(2):
            length, at = _read_long(value, at)
            if length < 0 or at + length > len(value):
                return None
            strings.append(bytes(value[at : at + length]).decode())
            at += length
        received_ms, at = _read_long(value, at)
        player_ts_ms, at = _read_long(value, at)
    except (IndexError, SerializationError, UnicodeDecodeError):
        return None
    return strings[0], strings[1], received_ms, player_ts_ms


def session_summaries() -> AvroCodec:
    """Codec of the ``SessionSummary`` records on the session-summaries topic."""
    return AvroCodec(load_schemas("session_summary"))


SEGMENT_MARKER_HEADER = ("sessionflow-record", b"segment-marker")


def is_segment_marker(value: bytes) -> bool:
    """Whether a media-events value is a ``SegmentMarker`` (by its schema fingerprint)."""
    return segment_markers().written_by(value)
