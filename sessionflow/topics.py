"""Every Kafka topic sessionflow uses, named in one place, with who produces and consumes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Topic names under one prefix (setting ``SESSIONFLOW_TOPIC_PREFIX``)."""

    prefix: str = "sessionflow."

    @property
    def media_events(self) -> str:
        """Raw media events, key = session id, Avro ``MediaEvent``.

        Produced by the collection edge (producers/); consumed by the worker (streams/) and the
        ClickHouse sink (sinks/).
        """
        return f"{self.prefix}media-events"

    @property
    def session_counts(self) -> str:
        """Absolute per-window count updates, Avro ``SessionCount``.

        Produced by the worker (streams/); consumed by the ClickHouse sink (sinks/).
        """
        return f"{self.prefix}session-counts"

    @property
    def session_summaries(self) -> str:
        """QoE figures of each closed session, key = session id, Avro ``SessionSummary``.

        Produced by the worker (streams/); consumed by the ClickHouse sink (sinks/).
        """
        return f"{self.prefix}session-summaries"

    @property
    def dead_letter(self) -> str:
        """Records that could not be processed, original bytes, reason in headers.

        Produced by the worker and the sink; consumed by operators.
        """
        return f"{self.prefix}dead-letter"

    @property
    def worker_app_id(self) -> str:
        """The Faust application id; Faust derives its changelog topic names from it."""
        return f"{self.prefix}worker"

    def configs(self, name: str) -> dict[str, str]:
        """Topic-level configs sessionflow creates a topic with."""
        if name == self.media_events:
            # Broker-stamped append time: see sessionflow.acceptance.
            return {"message.timestamp.type": "LogAppendTime"}
        return {}

    def all(self) -> tuple[str, ...]:
        """The topics sessionflow creates itself (Faust creates its changelogs)."""
        return (self.media_events, self.session_counts, self.session_summaries, self.dead_letter)
