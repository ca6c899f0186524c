import json
from pathlib import Path

import pytest

from producers.contract import EVENT_TYPES, event_schema
from producers.validation import EventValidator, pointer
from sessionflow.errors import InvalidInput

ALL = frozenset(EVENT_TYPES)
VALIDATOR = EventValidator()


def start_body(**params):
    base = {
        "analytics.trackingServer": "t.example.net",
        "analytics.reportSuite": "rsid",
        "visitor.marketingCloudOrgId": "ORG@AdobeOrg",
        "media.id": "m1",
        "media.playerName": "player",
        "media.channel": "chan",
        "media.contentType": "VOD",
        "media.length": 60.5,
    }
    base.update(params)
    return {"eventType": "sessionStart", "playerTime": {"playhead": 0, "ts": 1}, "params": base}


def errors_of(body, allowed=ALL):
    with pytest.raises(InvalidInput) as info:
        VALIDATOR.validate(body, allowed)
    return {(e.path, e.error) for e in info.value.errors}


def test_seed_sample_body_is_accepted():
    # Adobe's sample from the seed page, with its "..." placeholders removed.
    body = {
        "playerTime": {"playhead": 0, "ts": 1509045324153},
        "eventType": "sessionStart",
        "params": {
            "media.playerName": "sample-html5-api-player",
            "analytics.trackingServer": "<your-aa-tracking-server>",
            "analytics.reportSuite": "<your-aa-rsid>",
            "analytics.visitorId": "<your-userId>",
            "media.contentType": "VOD",
            "media.length": 60.39333333333333,
            "media.id": "MA API Sample Player",
            "visitor.marketingCloudOrgId": "<your-org-id>",
            "media.name": "ClickMe",
            "media.channel": "sample-channel",
            "media.sdkVersion": "va-api-0.0.0",
            "analytics.enableSSL": False,
        },
        "customMetadata": {"myCustomData": "<your metadata>", "myCustomData2": "<your metadata>"},
        "qoeData": {"param1": "<your param-value>", "param2": "<your param-value>"},
    }
    event = VALIDATOR.validate(body, frozenset({"sessionStart"}))
    assert event.ts_ms == 1509045324153 and event.params["media.name"] == "ClickMe"


def test_swagger_example_is_accepted():
    swagger = (
        Path(__file__).parents[4] / "shared" / "reference" / "adobe-media-collection.swagger.json"
    )
    if swagger.exists():
        example = json.loads(swagger.read_text())["definitions"]["MediaEvent"]["example"]
        VALIDATOR.validate(example, ALL)


def test_every_missing_required_param_is_named():
    body = start_body()
    body["params"] = {}
    found = errors_of(body)
    for name in (
        "analytics.trackingServer", "analytics.reportSuite", "visitor.marketingCloudOrgId",
        "media.id", "media.playerName", "media.channel", "media.contentType", "media.length",
    ):  # fmt: skip
        assert (f"/params/{name}", "is required") in found


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ("media.length", "60", "must be a number"),
        ("media.length", True, "must be a number"),
        ("media.id", 5, "must be a string"),
        ("analytics.enableSSL", "false", "must be a boolean"),
        ("media.resume", 1, "must be a boolean"),
        ("visitor.aamLocationHint", 1.5, "must be an integer"),
        ("media.show", 3, "must be a string"),
        ("unknown.param", {"nested": 1}, "must be a string or a number or a boolean"),
    ],
)
def test_param_types(param, value, message):
    assert (f"/params/{param}", message) in errors_of(start_body(**{param: value}))


def test_player_time_rules():
    body = start_body()
    body["playerTime"] = {"playhead": -1, "ts": 1.5, "extra": 1}
    found = errors_of(body)
    assert ("/playerTime/playhead", "must be >= 0") in found
    assert ("/playerTime/ts", "must be an integer") in found
    assert ("/playerTime/extra", "is not allowed here") in found
    body["playerTime"] = {"playhead": 1.25}
    assert ("/playerTime/ts", "is required") in errors_of(body)


def test_float_playhead_and_integral_float_ts_are_accepted():
    body = start_body()
    body["playerTime"] = {"playhead": 12.75, "ts": 1000.0}
    event = VALIDATOR.validate(body, ALL)
    assert event.playhead == 12.75 and event.ts_ms == 1000 and isinstance(event.ts_ms, int)


def test_custom_metadata_rules():
    body = start_body()
    body["customMetadata"] = {
        "ok_key.1": "v",
        "media.bad": "v",
        "a.bad": "v",
        "sp ace": "v",
        "num": 3,
    }
    found = {p for p, _ in errors_of(body)}
    assert found == {
        "/customMetadata/media.bad",
        "/customMetadata/a.bad",
        "/customMetadata/sp ace",
        "/customMetadata/num",
    }


def test_custom_metadata_only_on_three_event_types():
    body = {
        "eventType": "play",
        "playerTime": {"playhead": 1, "ts": 1},
        "customMetadata": {"k": "v"},
    }
    assert ("/customMetadata", "is not allowed here") in errors_of(body)


def test_qoe_types():
    body = start_body()
    body["qoeData"] = {"media.qoe.bitrate": "high", "media.qoe.errorID": 5}
    found = errors_of(body)
    assert ("/qoeData/media.qoe.bitrate", "must be an integer") in found
    assert ("/qoeData/media.qoe.errorID", "must be a string") in found


def test_body_shape_errors():
    assert errors_of([1, 2]) == {("", "must be an object")}
    assert ("/eventType", "is required") in errors_of({"playerTime": {"playhead": 0, "ts": 1}})
    found = errors_of({"eventType": "nope", "playerTime": {"playhead": 0, "ts": 1}})
    assert any(p == "/eventType" and e.startswith("must be one of") for p, e in found)


def test_event_type_must_fit_the_path():
    assert errors_of(start_body(), frozenset({"play"})) == {
        ("/eventType", "must be play on this path")
    }


def test_ping_params_must_be_empty():
    body = {"eventType": "ping", "playerTime": {"playhead": 1, "ts": 1}, "params": {"x": "y"}}
    assert ("/params", "must be empty or absent") in errors_of(body)
    body["params"] = {}
    VALIDATOR.validate(body, ALL)


def test_error_event_id_in_qoe_or_params():
    base = {"eventType": "error", "playerTime": {"playhead": 1, "ts": 1}}
    VALIDATOR.validate({**base, "qoeData": {"media.qoe.errorID": "E1"}}, ALL)
    VALIDATOR.validate({**base, "params": {"media.errorId": "E1"}}, ALL)
    assert errors_of(base)


def test_every_event_type_has_a_schema():
    for name in EVENT_TYPES:
        assert event_schema(name)["properties"]["eventType"] == {"const": name}


def test_pointer_escapes():
    assert pointer(["params", "a/b~c"]) == "/params/a~1b~0c"


def test_downloaded_batch_names_the_bad_index():
    start = start_body(**{"media.downloaded": True})
    play = {"eventType": "play", "playerTime": {"playhead": 1, "ts": 2}}
    events = VALIDATOR.validate_downloaded([start, play, {**play, "eventType": "sessionEnd"}])
    assert [e.event_type for e in events] == ["sessionStart", "play", "sessionEnd"]
    with pytest.raises(InvalidInput) as info:
        VALIDATOR.validate_downloaded([start, play, {"eventType": "play"}])
    assert {e.path for e in info.value.errors} == {"/2/playerTime"}


def test_downloaded_batch_rules():
    play = {"eventType": "play", "playerTime": {"playhead": 1, "ts": 2}}
    for body, path in [
        ([], ""),
        ({"eventType": "play"}, ""),
        ([start_body()], "/0/params/media.downloaded"),
        ([play], "/0/eventType"),
        ([start_body(**{"media.downloaded": True}), start_body()], "/1/eventType"),
    ]:
        with pytest.raises(InvalidInput) as info:
            VALIDATOR.validate_downloaded(body)
        assert path in {e.path for e in info.value.errors}
