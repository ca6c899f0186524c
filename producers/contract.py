"""The JSON Schemas of every Adobe media event body: the one definition the edge validates with
and serves at ``GET /api/v1/schemas/{eventType}``.
"""

from __future__ import annotations

from typing import Any

from sessionflow.events import EVENT_ALIASES, EVENT_TYPES, WIRE_EVENT_TYPES

Schema = dict[str, Any]

__all__ = ["EVENT_ALIASES", "EVENT_TYPES", "WIRE_EVENT_TYPES", "event_schema"]

# Adobe's rule for a live stream of unknown length (SPEC §2).
UNKNOWN_LIVE_LENGTH_SECONDS = 86400

_STRING: Schema = {"type": "string"}
_NUMBER: Schema = {"type": "number"}
# JSON-safe integers: every JSON parser reads them exactly, and they fit Avro longs.
_SAFE_INT = {"minimum": -(2**53 - 1), "maximum": 2**53 - 1}
_INTEGER: Schema = {"type": "integer", **_SAFE_INT}
_BOOLEAN: Schema = {"type": "boolean"}
_SCALAR: Schema = {"type": ["string", "number", "boolean"]}

_STANDARD_METADATA = (
    "show", "season", "episode", "assetId", "genre", "firstAirDate", "firstDigitalDate",
    "rating", "originator", "network", "showType", "adLoad", "pass.mvpd", "pass.auth",
    "dayPart", "feed", "artist", "album", "label", "author", "station",
)  # fmt: skip

# Optional standard params of any event, typed (SPEC §2). Unknown params are accepted as scalars.
STANDARD_PARAMS: dict[str, Schema] = {
    "analytics.trackingServer": _STRING,
    "analytics.reportSuite": _STRING,
    "analytics.enableSSL": _BOOLEAN,
    "analytics.visitorId": _STRING,
    "analytics.aid": _STRING,
    "visitor.marketingCloudOrgId": _STRING,
    "visitor.marketingCloudUserId": _STRING,
    "visitor.aamLocationHint": _INTEGER,
    "media.id": _STRING,
    "media.name": _STRING,
    "media.length": {
        "type": "number",
        "minimum": 0,
        "description": "seconds; a live stream of unknown length sends "
        f"{UNKNOWN_LIVE_LENGTH_SECONDS}",
    },
    "media.contentType": _STRING,
    "media.playerName": _STRING,
    "media.channel": _STRING,
    "media.sdkVersion": _STRING,
    "media.streamType": _STRING,
    "media.publisher": _STRING,
    "media.resume": _BOOLEAN,
    "media.downloaded": _BOOLEAN,
    "media.errorId": _STRING,
    # Standard video metadata
    **{f"media.{key}": _STRING for key in _STANDARD_METADATA},
    # Ads, chapters, states
    "media.ad.podIndex": _INTEGER,
    "media.ad.podSecond": _NUMBER,
    "media.ad.podFriendlyName": _STRING,
    "media.ad.podPosition": {"type": "integer", "minimum": 1, "maximum": 2**53 - 1},
    "media.ad.id": _STRING,
    "media.ad.name": _STRING,
    "media.ad.length": _NUMBER,
    "media.ad.playerName": _STRING,
    "media.ad.advertiser": _STRING,
    "media.ad.campaignId": _STRING,
    "media.ad.creativeId": _STRING,
    "media.ad.siteId": _STRING,
    "media.ad.creativeURL": _STRING,
    "media.ad.placementId": _STRING,
    "media.chapter.index": _INTEGER,
    "media.chapter.offset": _NUMBER,
    "media.chapter.length": _NUMBER,
    "media.chapter.friendlyName": _STRING,
    "media.state.name": _STRING,
}

SESSION_START_REQUIRED = (
    "analytics.trackingServer", "analytics.reportSuite", "visitor.marketingCloudOrgId",
    "media.id", "media.playerName", "media.channel", "media.contentType", "media.length",
)  # fmt: skip

REQUIRED_PARAMS: dict[str, tuple[str, ...]] = {
    "sessionStart": SESSION_START_REQUIRED,
    "adBreakStart": ("media.ad.podIndex", "media.ad.podSecond"),
    "adStart": ("media.ad.podPosition", "media.ad.id", "media.ad.length", "media.ad.playerName"),
    "chapterStart": ("media.chapter.index", "media.chapter.offset", "media.chapter.length"),
    "stateStart": ("media.state.name",),
    "stateEnd": ("media.state.name",),
}

CUSTOM_METADATA_EVENTS = frozenset({"sessionStart", "adStart", "chapterStart"})
CUSTOM_KEY_PATTERN = r"^(?!media\.|a\.)[A-Za-z0-9_.]+$"

PLAYER_TIME: Schema = {
    "type": "object",
    "required": ["playhead", "ts"],
    "additionalProperties": False,
    "properties": {
        "playhead": {"type": "number", "minimum": 0, "description": "seconds, may be fractional"},
        "ts": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**53 - 1,
            "description": "epoch milliseconds",
        },
    },
}

QOE_DATA: Schema = {
    "type": "object",
    "properties": {
        "media.qoe.bitrate": _INTEGER,
        "media.qoe.droppedFrames": _INTEGER,
        "media.qoe.framesPerSecond": _INTEGER,
        "media.qoe.timeToStart": _INTEGER,
        "media.qoe.errorID": _STRING,
        "media.qoe.errorSource": _STRING,
    },
    "additionalProperties": _SCALAR,
}

CUSTOM_METADATA: Schema = {
    "type": "object",
    "propertyNames": {"pattern": CUSTOM_KEY_PATTERN},
    "additionalProperties": _STRING,
}


def event_schema(event_type: str) -> Schema:
    """The JSON Schema (draft 7) of a body whose ``eventType`` is ``event_type`` (an alias has
    the schema of its canonical type)."""
    if event_type in EVENT_ALIASES:
        aliased = event_schema(EVENT_ALIASES[event_type])
        aliased["title"] = f"{event_type} event (alias of {EVENT_ALIASES[event_type]})"
        aliased["properties"] = {**aliased["properties"], "eventType": {"const": event_type}}
        return aliased
    if event_type not in EVENT_TYPES:
        raise KeyError(event_type)
    properties: Schema = {
        "eventType": {"const": event_type},
        "playerTime": PLAYER_TIME,
        "qoeData": QOE_DATA,
    }
    required = ["eventType", "playerTime"]
    if event_type == "ping":
        properties["params"] = {"type": "object", "maxProperties": 0}
    else:
        properties["params"] = {
            "type": "object",
            "properties": STANDARD_PARAMS,
            "required": list(REQUIRED_PARAMS.get(event_type, ())),
            "additionalProperties": _SCALAR,
        }
    if event_type == "sessionStart":
        required.append("params")
    if event_type in REQUIRED_PARAMS and event_type != "sessionStart":
        required.append("params")
    if event_type in CUSTOM_METADATA_EVENTS:
        properties["customMetadata"] = CUSTOM_METADATA
    schema: Schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"{event_type} event",
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }
    if event_type == "error":
        # The error id may come in qoeData (media.qoe.errorID) or in params (media.errorId).
        schema["anyOf"] = [
            {
                "required": ["qoeData"],
                "properties": {"qoeData": {"required": ["media.qoe.errorID"]}},
            },
            {"required": ["params"], "properties": {"params": {"required": ["media.errorId"]}}},
        ]
    return schema


ENVELOPE: Schema = {
    "type": "object",
    "required": ["eventType", "playerTime"],
    "properties": {
        "eventType": {"enum": list(WIRE_EVENT_TYPES)},
        "playerTime": PLAYER_TIME,
    },
}
