"""Mapping of a validated event to the Avro ``MediaEvent`` record (pure)."""

from __future__ import annotations

from typing import Any

from producers.validation import ValidEvent
from sessionflow.timebuckets import session_time_ms


def media_event_record(
    event: ValidEvent, session_id: str, received_ms: int, user_agent: str | None = None
) -> dict[str, Any]:
    """The record published to the media-events topic for ``event``."""
    record: dict[str, Any] = {
        "session_id": session_id,
        "event_type": event.event_type,
        "received_ms": received_ms,
        "player_ts_ms": event.ts_ms,
        "playhead": event.playhead,
        "session_time_ms": None,
        "session_time_source": None,
        "org_id": None,
        "app_id": None,
        "params": event.params,
        "custom_metadata": event.custom_metadata,
        "qoe_data": event.qoe_data,
        "user_agent": user_agent,
    }
    if event.event_type == "sessionStart":
        at_ms, source = session_time_ms(event.ts_ms, received_ms)
        record["session_time_ms"] = at_ms
        record["session_time_source"] = source
        record["org_id"] = str(event.params["visitor.marketingCloudOrgId"])
        record["app_id"] = str(event.params["analytics.reportSuite"])
    return record
