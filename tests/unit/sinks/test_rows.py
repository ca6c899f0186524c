from sessionflow.storedform import text
from sinks import rows


def session_record():
    return {
        "session_id": "ab" * 32, "event_type": "sessionStart", "received_ms": 1_700_000_001_234,
        "player_ts_ms": 1_700_000_000_000, "playhead": 0.0, "session_time_ms": 1_700_000_000_000,
        "session_time_source": "player", "org_id": "org", "app_id": "app",
        "params": {"media.id": "m", "media.length": 60, "analytics.enableSSL": True,
                   "custom.param": 5, "media.show": "S"},
        "custom_metadata": {"b": "2", "a": "1"}, "qoe_data": {"media.qoe.bitrate": 300},
    }  # fmt: skip


def test_session_row_matches_columns_and_types():
    row = rows.session_row(session_record(), 1, 10, 1_700_000_005_000)
    assert len(row) == len(rows.SESSION_COLUMNS)
    by_name = dict(zip(rows.SESSION_COLUMNS, row, strict=True))
    assert by_name["media_length"] == 60.0 and by_name["enable_ssl"] == 1
    assert by_name["show"] == "S" and by_name["media_name"] is None
    assert by_name["param_keys"] == ["custom.param"] and by_name["param_values"] == ["5"]
    assert by_name["custom_keys"] == ["a", "b"] and by_name["custom_values"] == ["1", "2"]
    assert by_name["session_time"] == 1_700_000_000  # DateTime: epoch seconds
    assert (by_name["source_partition"], by_name["source_offset"]) == (1, 10)


def test_event_and_count_rows_match_columns():
    assert len(rows.event_row(session_record(), 0, 1, 0)) == len(rows.EVENT_COLUMNS)
    count = {
        "org_id": "o",
        "app_id": "a",
        "segment_id": "",
        "unit": "day",
        "bucket_start_ms": 86_400_000,
        "source_partition": 0,
        "count": 1,
        "version": 5,
    }
    (row,) = rows.count_rows(count)  # a v1 record: one window
    assert len(row) == len(rows.COUNT_COLUMNS) and row[4] == 86_400
    more = {"segment_id": "g@1", "unit": "hour", "bucket_start_ms": 0, "count": 2, "version": 8}
    both = rows.count_rows({**count, "more": [more]})
    assert [r[2:5] for r in both] == [("", "day", row[4]), ("g@1", "hour", rows.moment(0))]
    assert both[1][5:] == (0, "stream", 2, 8)


def test_text_of_values():
    assert [text(v) for v in ("s", 1, 1.5, True, None)] == ["s", "1", "1.5", "true", "null"]


def test_event_row_types_ad_chapter_state_and_error_columns():
    record = {
        **session_record(), "event_type": "error", "session_time_ms": None,
        "session_time_source": None, "org_id": None, "app_id": None,
        "params": {"media.errorId": "E42", "media.ad.podIndex": 2, "media.state.name": "pip"},
        "qoe_data": {"media.qoe.droppedFrames": 3}, "custom_metadata": {},
    }  # fmt: skip
    by_name = dict(zip(rows.EVENT_COLUMNS, rows.event_row(record, 0, 1, 0), strict=True))
    assert by_name["error_id"] == "E42" and by_name["ad_pod_index"] == 2
    assert by_name["state_name"] == "pip" and by_name["dropped_frames"] == 3
    assert by_name["chapter_index"] is None and by_name["org_id"] == ""


def test_event_row_of_a_ping_has_every_typed_column_null():
    record = {
        **session_record(), "event_type": "ping", "params": {}, "qoe_data": {},
        "custom_metadata": {},
    }  # fmt: skip
    by_name = dict(zip(rows.EVENT_COLUMNS, rows.event_row(record, 0, 1, 0), strict=True))
    typed_columns = rows.EVENT_COLUMNS[11:27]
    assert typed_columns[0] == "ad_pod_index" and typed_columns[-1] == "time_to_start"
    assert all(by_name[name] is None for name in typed_columns)
    assert by_name["param_keys"] == [] and by_name["qoe_keys"] == []


def test_event_row_types_each_value_as_its_column_and_keeps_every_param_as_text():
    record = {
        **session_record(), "event_type": "chapterStart",
        "params": {"media.chapter.index": 2, "media.chapter.offset": 3, "media.ad.id": None,
                   "other": "x"},
        "qoe_data": {"media.qoe.bitrate": 800.0}, "custom_metadata": {},
    }  # fmt: skip
    by_name = dict(zip(rows.EVENT_COLUMNS, rows.event_row(record, 0, 1, 0), strict=True))
    assert by_name["chapter_index"] == 2 and by_name["chapter_offset"] == 3.0
    assert isinstance(by_name["chapter_offset"], float) and by_name["bitrate"] == 800
    assert by_name["ad_id"] is None  # a JSON null: SQL NULL
    assert by_name["param_keys"] == ["media.ad.id", "media.chapter.index",
                                     "media.chapter.offset", "other"]  # fmt: skip
