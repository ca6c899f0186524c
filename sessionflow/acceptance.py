"""Which sessionStart records count: those Kafka appended before the edge's answer deadline.

The edge answers 201 only when Kafka acknowledged a sessionStart within
``kafka_publish_timeout_ms`` of the session id's issue time; past that it answers 503. An
idempotent producer keeps retrying a record it could not deliver, so such a record may still
reach Kafka later, after the client was told 503. The media-events topic stamps records with
the broker's append time (``LogAppendTime``), and the worker and the sink drop a sessionStart
appended after the deadline (plus a small clock grace): a 503 is never counted, a 201 always is.
"""

from __future__ import annotations

from sessionflow.sessionids import issued_at_ms

CLOCK_GRACE_MS = 1000
LOG_APPEND_TIME = 1  # Kafka's timestamp type of broker-stamped records


def edge_deadline_ms(issued_ms: int, publish_timeout_ms: int) -> int:
    """When the edge stops waiting for Kafka and answers 503."""
    return issued_ms + publish_timeout_ms


def appended_in_time(
    session_id: str, append_ms: int, timestamp_type: int, publish_timeout_ms: int
) -> bool:
    """Whether a sessionStart appended at ``append_ms`` may have been answered 201."""
    if timestamp_type != LOG_APPEND_TIME:
        return True  # not broker-stamped: nothing to compare against
    deadline = edge_deadline_ms(issued_at_ms(session_id), publish_timeout_ms)
    return append_ms <= deadline + CLOCK_GRACE_MS
