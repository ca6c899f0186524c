"""The exception tree of sessionflow. Adapters translate their library's errors into these.

SessionflowError
├── InvalidInput            bad data from a client; ``errors`` lists (path, message) pairs
├── SessionIdError
│   ├── UnknownSession      an id the edge never issued (forged, mistyped)        → 404
│   └── ExpiredSession      an id older than the session lifetime                  → 410
├── SerializationError      a record that cannot be encoded or decoded with the Avro schemas
├── Unavailable             an external system cannot take the request now; ``retry_after``
│   ├── KafkaUnavailable
│   └── ClickHouseUnavailable
└── ClickHouseRejected      ClickHouse refused this statement or its data (retrying the same
                            data fails again); ``code`` is ClickHouse's error code
"""

from __future__ import annotations

from dataclasses import dataclass


class SessionflowError(Exception):
    """Root of every error sessionflow raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One problem in a client's input: where (a JSON Pointer or a parameter name) and what."""

    path: str
    error: str


class InvalidInput(SessionflowError):
    """The client sent data that does not satisfy the contract."""

    def __init__(self, message: str, errors: list[FieldError]) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


class SessionIdError(SessionflowError):
    """A session id that cannot be used."""


class UnknownSession(SessionIdError):
    """The id was not issued by this edge (bad shape, bad MAC, or a time in the future)."""


class ExpiredSession(SessionIdError):
    """The id was issued by this edge but is older than the session lifetime."""


class SerializationError(SessionflowError):
    """A record could not be encoded to, or decoded from, Avro single-object encoding."""


class Unavailable(SessionflowError):
    """An external system cannot take the request now; the client may retry later."""

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KafkaUnavailable(Unavailable):
    """The Kafka cluster did not acknowledge a write in time."""


class ClickHouseUnavailable(Unavailable):
    """The ClickHouse server could not be reached or failed a query."""


class ClickHouseRejected(SessionflowError):
    """ClickHouse refused the statement or its data: the same data would fail again."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
