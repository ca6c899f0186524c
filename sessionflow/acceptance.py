"""Which sessionStart records count: those Kafka appended before the edge's answer deadline.

A sessionStart's deadline is ``kafka_publish_timeout_ms`` after its session id's issue time.
The media-events topic stamps records with the broker's append time (``LogAppendTime``), and
the worker and the sink count a sessionStart appended by the deadline plus a clock grace
(``accepted_until_ms``). An idempotent producer keeps retrying a record it could not deliver,
so a record may reach Kafka after its client stopped waiting.

The edge applies the same rule to the same number: Kafka's acknowledgement carries the append
time, and the edge answers 201 only if it is within ``accepted_until_ms``, 503 otherwise. It
stops waiting (503) only ``ACK_MARGIN_MS`` after that, when no record appended in the window
can still be unacknowledged (an acknowledgement takes milliseconds; the margin also covers the
edge's clock running ahead of the broker's by up to ``CLOCK_GRACE_MS``). Answering 503 at the
deadline itself let a record the broker appended just after it be counted though its client
was told 503 (seen in the Kafka-restart fault test: aiokafka's retries after the restart
appended it within the grace).
"""

from __future__ import annotations

from sessionflow.sessionids import issued_at_ms

CLOCK_GRACE_MS = 1000
ACK_MARGIN_MS = 1000
LOG_APPEND_TIME = 1  # Kafka's timestamp type of broker-stamped records


def edge_deadline_ms(issued_ms: int, publish_timeout_ms: int) -> int:
    """The deadline of a record the edge started publishing at ``issued_ms``."""
    return issued_ms + publish_timeout_ms


def accepted_until_ms(issued_ms: int, publish_timeout_ms: int) -> int:
    """The latest broker append time at which a sessionStart issued at ``issued_ms`` counts."""
    return edge_deadline_ms(issued_ms, publish_timeout_ms) + CLOCK_GRACE_MS


def edge_gives_up_ms(issued_ms: int, publish_timeout_ms: int) -> int:
    """When the edge stops waiting for a sessionStart's acknowledgement and answers 503."""
    return accepted_until_ms(issued_ms, publish_timeout_ms) + ACK_MARGIN_MS


def appended_in_time(
    session_id: str, append_ms: int, timestamp_type: int, publish_timeout_ms: int
) -> bool:
    """Whether a sessionStart appended at ``append_ms`` may have been answered 201."""
    if timestamp_type != LOG_APPEND_TIME:
        return True  # not broker-stamped: nothing to compare against
    return append_ms <= accepted_until_ms(issued_at_ms(session_id), publish_timeout_ms)
