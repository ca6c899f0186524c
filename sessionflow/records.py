"""The record model: a record consumed from Kafka, and one bound for the dead-letter topic.

``ConsumedRecord`` is the one type the worker and the sink handle, whoever read it (the Kafka
adapter's consumers, Faust). ``DeadLetter`` writes the dead-letter headers, the same for every
producer of that topic: ``reason``, ``detail`` and ``source`` (``topic/partition/offset``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sessionflow.acceptance import appended_in_time
from sessionflow.events import SESSION_START

DETAIL_MAX_BYTES = 1000


@dataclass(frozen=True)
class ConsumedRecord:
    """One record read from Kafka."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int = 0
    timestamp_type: int = 0  # 0: CreateTime, 1: LogAppendTime

    @property
    def source(self) -> str:
        """Where it was read: ``topic/partition/offset``."""
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class DeadLetter:
    """A consumed record that cannot be processed, and why."""

    record: ConsumedRecord
    reason: str  # a short stable token: undecodable, abandoned, late, unstorable, ...
    detail: str

    def headers(self) -> list[tuple[str, bytes]]:
        """The dead-letter record's headers."""
        return [
            ("reason", self.reason.encode()),
            ("detail", self.detail.encode()[:DETAIL_MAX_BYTES]),
            ("source", self.record.source.encode()),
        ]


def abandoned(
    record: ConsumedRecord, event: Mapping[str, Any], publish_timeout_ms: int
) -> DeadLetter | None:
    """The dead letter of a sessionStart Kafka appended after the edge's answer deadline (the
    client was told 503; ``sessionflow.acceptance``), else ``None``."""
    if event["event_type"] != SESSION_START or appended_in_time(
        event["session_id"], record.timestamp_ms, record.timestamp_type, publish_timeout_ms
    ):
        return None
    return DeadLetter(record, "abandoned", "appended after the edge's answer deadline")
