import json

import pytest

from schemas import codec
from schemas.codec import MARKER, AvroCodec, load_schemas
from sessionflow.errors import SerializationError


def media_event(**overrides):
    record = {
        "session_id": "ab" * 32, "event_type": "sessionStart", "received_ms": 2,
        "player_ts_ms": 1, "playhead": 0.5, "session_time_ms": 1, "session_time_source": "player",
        "org_id": "org", "app_id": "app",
        "params": {"media.length": 60.5, "analytics.enableSSL": False, "visitor.aamLocationHint": 3,
                   "media.id": "m"},
        "custom_metadata": {"k": "v"}, "qoe_data": {"media.qoe.bitrate": 3000},
        "user_agent": "player/1.0",
    }  # fmt: skip
    record.update(overrides)
    return record


def test_round_trip_keeps_types():
    data = codec.media_events().encode(media_event())
    assert data[:2] == MARKER
    back = codec.media_events().decode(data)
    assert back == media_event()
    assert back["params"]["analytics.enableSSL"] is False
    assert isinstance(back["params"]["visitor.aamLocationHint"], int)


def test_single_object_header_is_the_crc64_fingerprint():
    # The Avro spec's CRC-64-AVRO of the primitive schema "int" is 0x7275d51a3f395c8f;
    # single-object encoding writes it little-endian.
    c = AvroCodec({1: {"type": "record", "name": "R", "fields": [{"name": "x", "type": "int"}]}})
    assert c.encode({"x": 1})[:2] == MARKER
    from fastavro.schema import fingerprint

    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == (0x7275D51A3F395C8F).to_bytes(
        8, "little"
    )


@pytest.mark.parametrize("data", [b"", b"\x00\x01", b"\xc3\x01" + b"\x00" * 8, b"\xc3\x01"])
def test_garbage_is_a_serialization_error(data):
    with pytest.raises(SerializationError):
        codec.media_events().decode(data)


def test_truncated_and_trailing_bytes_are_errors():
    data = codec.media_events().encode(media_event())
    with pytest.raises(SerializationError):
        codec.media_events().decode(data[:-3])
    with pytest.raises(SerializationError):
        codec.media_events().decode(data + b"\x00")


def test_bad_record_is_a_serialization_error():
    with pytest.raises(SerializationError):
        codec.media_events().encode(media_event(received_ms="later"))


def test_count_round_trip():
    record = {
        "org_id": "o",
        "app_id": "a",
        "segment_id": "",
        "unit": "hour",
        "bucket_start_ms": 3_600_000,
        "source_partition": 2,
        "count": 7,
        "version": 99,
    }
    counts = codec.session_counts()
    # A v1 record (one window) reads as v2 with no further windows.
    assert counts.decode(counts.encode(record, version=1)) == {**record, "more": []}
    more = [{"segment_id": "s@1", "unit": "day", "bucket_start_ms": 0, "count": 1, "version": 2}]
    assert counts.decode(counts.encode({**record, "more": more})) == {**record, "more": more}


def test_schema_files_are_versioned_and_valid_json():
    assert 1 in load_schemas("media_event") and 1 in load_schemas("session_count")
    for version in load_schemas("media_event").values():
        json.dumps(version)


def test_records_written_with_v1_are_read_with_v2():
    """Schema evolution: v2 adds the optional ``user_agent``; v1 records still decode."""
    events = codec.media_events()
    assert events.latest_version == 2
    v1_record = {k: v for k, v in media_event().items() if k != "user_agent"}
    old_bytes = events.encode(v1_record, version=1)
    assert old_bytes[2:10] == events.fingerprint_of(1) != events.fingerprint_of(2)
    assert events.decode(old_bytes) == {**v1_record, "user_agent": None}


def test_a_v1_only_reader_is_told_about_unknown_fingerprints():
    v1_only = AvroCodec({1: load_schemas("media_event")[1]})
    with pytest.raises(SerializationError, match="unknown writer schema"):
        v1_only.decode(codec.media_events().encode(media_event()))


def test_every_version_only_adds_fields_with_defaults():
    versions = load_schemas("media_event")
    for old, new in zip(sorted(versions)[:-1], sorted(versions)[1:], strict=True):
        old_fields = {f["name"]: f for f in versions[old]["fields"]}
        new_fields = {f["name"]: f for f in versions[new]["fields"]}
        assert set(old_fields) <= set(new_fields)
        for name in old_fields:
            assert old_fields[name]["type"] == new_fields[name]["type"]
        for name in set(new_fields) - set(old_fields):
            assert "default" in new_fields[name]


def test_segment_markers_are_told_apart_from_media_events_by_fingerprint():
    marker = {"org_id": "o", "segment_key": "gold@1", "action": "start", "app_id": None,
              "filter": '{"field":"customMetadata.tier","op":"exists"}'}  # fmt: skip
    value = codec.segment_markers().encode(marker)
    assert codec.is_segment_marker(value)
    assert codec.segment_markers().decode(value) == marker
    with pytest.raises(SerializationError, match="unknown writer schema"):
        codec.media_events().decode(value)
    assert not codec.is_segment_marker(b"\xc3\x01" + b"\x00" * 8)
    assert not codec.is_segment_marker(b"")


def test_media_event_head_is_read_without_decoding():
    from hypothesis import given
    from hypothesis import strategies as st

    from schemas.codec import media_event_head

    def media_event_type(value: bytes) -> str | None:
        head = media_event_head(value)
        return None if head is None else head[1]

    # media_event_head() relies on every MediaEvent version starting with these four fields.
    for schema in load_schemas("media_event").values():
        first = [(f["name"], f["type"]) for f in schema["fields"][:4]]
        assert first == [("session_id", "string"), ("event_type", "string"),
                         ("received_ms", "long"), ("player_ts_ms", "long")]  # fmt: skip
    base = {
        "session_id": "a" * 64, "event_type": "ping", "received_ms": 1, "player_ts_ms": 1,
        "playhead": 0.0, "params": {}, "custom_metadata": {}, "qoe_data": {},
    }  # fmt: skip

    @given(sid=st.text(max_size=300), kind=st.text(max_size=300))
    def check(sid: str, kind: str) -> None:
        for version in (1, 2):
            value = codec.media_events().encode(
                {**base, "session_id": sid, "event_type": kind}, version=version
            )
            assert media_event_type(value) == kind
            assert media_event_head(value) == (sid, kind, 1, 1)

    check()
    value = codec.media_events().encode(base)
    assert media_event_type(value[:12]) is None  # truncated
    assert media_event_type(b"not avro") is None
    marker = codec.segment_markers()
    assert media_event_type(marker._header + b"\x00") is None
