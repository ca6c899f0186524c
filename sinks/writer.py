"""The sink's write step: one batch of Kafka records in, deduplicated rows in ClickHouse out.

Idempotent: a redelivered batch (crash between insert and offset commit) adds nothing. Sessions
are skipped when their id is already stored, events when their (partition, offset) is;
counts are versioned rows of a ReplacingMergeTree, so a repeat is harmless by design. The
windows a batch's counts touched are then settled into ``session_totals`` (``sessionflow.totals``)
before the batch counts as stored, so a crash in between settles them again on redelivery.

Only a redelivery needs those lookups, and they cost ClickHouse a read of index granules per
session (half a core at 1,000 events/s, growing with the stored history). So before it inserts
a batch's rows the sink writes, per source partition, the offset below which rows may now be
stored (``sink_progress``), and it looks up only the records below the bound read before the
batch: a record at or past it was never inserted by any sink. Events get their session's org
and app from an in-process cache of recent sessions, looked up only on a miss.

No statement grows with the batch: the lookups behind deduplication list at most
``ID_LIST_BYTES`` of ids each (a full batch after a restart makes several small lookups, well
under ClickHouse's 256 KiB ``max_query_size``), and rows travel as native blocks.
"""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas import codec
from sessionflow.clickhouse import ClickHouse
from sessionflow.errors import SerializationError
from sessionflow.records import ConsumedRecord, DeadLetter, abandoned
from sessionflow.topics import Topics
from sessionflow.totals import settle_windows
from sinks import rows

logger = logging.getLogger(__name__)


@dataclass
class WriteResult:
    sessions: int = 0
    events: int = 0
    counts: int = 0
    summaries: int = 0
    duplicates: int = 0
    rejected: list[DeadLetter] = field(default_factory=list)


# Quoted ids per lookup statement: with the org and app literals (bounded by the edge's body
# limit) a statement stays far below ClickHouse's default max_query_size of 256 KiB.
ID_LIST_BYTES = 64 * 1024
SESSION_ID = re.compile(r"[0-9a-f]{64}")
PROGRESS_COLUMNS = ("topic", "source_partition", "written_up_to", "written_at")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def id_lists(ids: Sequence[str], max_bytes: int = ID_LIST_BYTES) -> Iterator[str]:
    """``ids`` as comma-separated quoted lists of at most ``max_bytes`` each (one id per list
    at least)."""
    chunk: list[str] = []
    size = 0
    for value in ids:
        quoted = _quote(value)
        if chunk and size + len(quoted) + 2 > max_bytes:
            yield ", ".join(chunk)
            chunk, size = [], 0
        chunk.append(quoted)
        size += len(quoted) + 2
    if chunk:
        yield ", ".join(chunk)


class ClickHouseWriter:
    """Writes batches of media-event and session-count records to ClickHouse."""

    def __init__(
        self,
        clickhouse: ClickHouse,
        topics: Topics,
        publish_timeout_ms: int,
        identities_cached: int = 100_000,
    ) -> None:
        self._ch = clickhouse
        # Sessions whose org and app it remembers (``Settings.session_cache_size``).
        self._identities_cached = identities_cached
        self._publish_timeout_ms = publish_timeout_ms
        self._topics = topics
        self._events = codec.media_events()
        self._counts = codec.session_counts()
        self._summaries = codec.session_summaries()
        self._identity: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def write(self, batch: Sequence[ConsumedRecord]) -> WriteResult:
        """Store ``batch``; raise ``ClickHouseUnavailable`` (try again later) or
        ``ClickHouseRejected`` (ClickHouse refuses some of it: split it, ``sinks.runner``)."""
        result = WriteResult()
        now_ms = time.time_ns() // 1_000_000
        events_topic = self._topics.media_events
        written = self._written_up_to(
            {item.partition for item in batch if item.topic == events_topic}
        )
        session_rows: list[rows.Row] = []
        event_rows: list[rows.Row] = []
        # Rows of records below their partition's bound: maybe stored already (redelivered).
        doubtful_sessions: list[rows.Row] = []
        doubtful_events: list[rows.Row] = []
        count_rows: list[rows.Row] = []
        summary_rows: list[rows.Row] = []
        seen: set[tuple[str, int, int]] = set()
        for item in batch:
            # A rebalance while the runner gathered the batch sends the consumer back to the
            # committed offset of a partition it kept: the same record may come twice in one
            # batch, both times past the bound (seen with two sinks, one killed -9).
            place = (item.topic, item.partition, item.offset)
            if place in seen:
                result.duplicates += 1
                continue
            seen.add(place)
            try:
                if item.topic == self._topics.media_events:
                    if codec.is_segment_marker(item.value):
                        continue  # for the worker (streams.segments); nothing to store
                    record = self._events.decode(item.value)
                    if not SESSION_ID.fullmatch(record["session_id"]):
                        result.rejected.append(
                            DeadLetter(
                                item, "invalid-session-id", "not 64 lowercase hex characters"
                            )
                        )
                        continue
                    refused = abandoned(item, record, self._publish_timeout_ms)
                    if refused is not None:
                        result.rejected.append(refused)
                        continue
                    new = item.offset >= written.get(item.partition, 0)
                    row = rows.event_row(record, item.partition, item.offset, now_ms)
                    (event_rows if new else doubtful_events).append(row)
                    if record["event_type"] == "sessionStart":
                        row = rows.session_row(record, item.partition, item.offset, now_ms)
                        (session_rows if new else doubtful_sessions).append(row)
                elif item.topic == self._topics.session_counts:
                    count_rows.extend(rows.count_rows(self._counts.decode(item.value)))
                elif item.topic == self._topics.session_summaries:
                    summary = self._summaries.decode(item.value)
                    summary_rows.append(
                        rows.summary_row(summary, item.partition, item.offset, now_ms)
                    )
                else:
                    result.rejected.append(DeadLetter(item, "unexpected-topic", item.topic))
            except SerializationError as exc:
                result.rejected.append(DeadLetter(item, "undecodable", str(exc)))
            except (KeyError, TypeError, ValueError) as exc:
                result.rejected.append(DeadLetter(item, "unmappable", repr(exc)))
        fresh_sessions = session_rows + self._new_sessions(doubtful_sessions)
        fresh_summaries = self._new_sessions(summary_rows, "session_summaries")
        fresh_events = self._with_identity(
            event_rows + self._new_events(doubtful_events), session_rows + doubtful_sessions
        )
        result.duplicates += (
            len(doubtful_sessions) + len(session_rows) - len(fresh_sessions)
            + len(doubtful_events) + len(event_rows) - len(fresh_events)
            + len(summary_rows) - len(fresh_summaries)
        )  # fmt: skip
        # The bound first: no row is ever stored past it.
        self._mark_written(batch, now_ms)
        # Counts first, then events, then sessions: a session row is the last thing written,
        # so its presence proves the whole record landed.
        self._ch.insert("session_counts", rows.COUNT_COLUMNS, count_rows)
        settle_windows(self._ch, {(row[0], row[2], row[3], row[4]) for row in count_rows})
        self._ch.insert("events", rows.EVENT_COLUMNS, fresh_events)
        self._ch.insert("sessions", rows.SESSION_COLUMNS, fresh_sessions)
        self._ch.insert("session_summaries", rows.SUMMARY_COLUMNS, fresh_summaries)
        result.summaries = len(fresh_summaries)
        result.sessions, result.events, result.counts = (
            len(fresh_sessions),
            len(fresh_events),
            len(count_rows),
        )
        return result

    def _written_up_to(self, partitions: set[int]) -> dict[int, int]:
        """Per media-events partition, the offset below which some sink may have stored rows."""
        if not partitions:
            return {}
        found = self._ch.execute(
            f"SELECT source_partition, max(written_up_to) FROM {self._ch.database}.sink_progress "
            f"WHERE topic = {_quote(self._topics.media_events)} "
            f"AND source_partition IN ({', '.join(map(str, sorted(partitions)))}) "
            "GROUP BY source_partition"
        )
        return {int(partition): int(bound) for partition, bound in found}

    def _mark_written(self, batch: Sequence[ConsumedRecord], now_ms: int) -> None:
        """Raise each partition's bound past this batch's records, before storing any of them."""
        ends: dict[int, int] = {}
        for item in batch:
            if item.topic == self._topics.media_events:
                ends[item.partition] = max(ends.get(item.partition, 0), item.offset + 1)
        at = rows.moment(now_ms)
        self._ch.insert(
            "sink_progress",
            PROGRESS_COLUMNS,
            [(self._topics.media_events, p, end, at) for p, end in sorted(ends.items())],
        )

    def _new_sessions(self, candidates: list[rows.Row], table: str = "sessions") -> list[rows.Row]:
        """``candidates`` (rows starting with session id, org, app) not stored in ``table``
        yet, and each once."""
        if not candidates:
            return []
        by_app: dict[tuple[str, str], list[str]] = {}
        for row in candidates:
            by_app.setdefault((row[1], row[2]), []).append(row[0])
        stored: set[str] = set()
        for (org, app), ids in by_app.items():
            for listed in id_lists(ids):
                stored.update(
                    row[0]
                    for row in self._ch.execute(
                        f"SELECT session_id FROM {self._ch.database}.{table} "
                        f"WHERE org_id = {_quote(org)} AND app_id = {_quote(app)} "
                        f"AND session_id IN ({listed})"
                    )
                )
        seen: set[str] = set()
        fresh = []
        for row in candidates:
            if row[0] not in stored and row[0] not in seen:
                seen.add(row[0])
                fresh.append(row)
        return fresh

    def _with_identity(
        self, event_rows: list[rows.Row], session_rows: list[rows.Row]
    ) -> list[rows.Row]:
        """Give every event its session's org and app (only sessionStart carries them): from
        the batch, else from the session's sessionStart row already stored."""
        org_at, app_at = rows.EVENT_COLUMNS.index("org_id"), rows.EVENT_COLUMNS.index("app_id")
        for row in session_rows:
            self._remember(row[0], (row[1], row[2]))
        known = self._identity
        # (Not ``- set(known)``: a copy of the whole cache, 100,000 ids, for every batch.)
        missing = sorted({row[0] for row in event_rows if not row[org_at] and row[0] not in known})
        for listed in id_lists(missing):
            for sid, org, app in self._ch.execute(
                f"SELECT session_id, any(org_id), any(app_id) FROM {self._ch.database}.events "
                f"WHERE session_id IN ({listed}) "
                "AND event_type = 'sessionStart' GROUP BY session_id"
            ):
                self._remember(sid, (org, app))
        filled = []
        for row in event_rows:
            if not row[org_at] and row[0] in known:
                org, app = known[row[0]]
                known.move_to_end(row[0])
                row = (*row[:org_at], org, app, *row[app_at + 1 :])
            filled.append(row)
        return filled

    def _remember(self, session_id: str, identity: tuple[str, str]) -> None:
        self._identity[session_id] = identity
        self._identity.move_to_end(session_id)
        if len(self._identity) > self._identities_cached:
            self._identity.popitem(last=False)

    def _new_events(self, candidates: list[rows.Row]) -> list[rows.Row]:
        if not candidates:
            return []
        ids = sorted({row[0] for row in candidates})
        stored: set[tuple[Any, ...]] = set()
        for listed in id_lists(ids):
            stored.update(
                (int(p), int(o))
                for p, o in self._ch.execute(
                    f"SELECT source_partition, source_offset FROM {self._ch.database}.events "
                    f"WHERE session_id IN ({listed})"
                )
            )
        fresh = []
        for row in candidates:
            where = (row[-3], row[-2])
            if where not in stored:
                stored.add(where)
                fresh.append(row)
        return fresh
