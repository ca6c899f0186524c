"""The ClickHouse tables, created idempotently. The DDL runs unchanged on ClickHouse 18.16 (the
OS package CI uses) and on current releases (the docker-compose image, the chdb engine).

- ``sessions``: one row per session (its sessionStart), typed columns for standard params.
- ``events``: one row per media event, typed columns for the ad, chapter, state and QoE data.
- ``session_counts``: absolute window counts per (org, app, segment, unit, bucket, source
  partition, origin), newest ``version`` wins; ``session_counts_current`` resolves and sums
  them. ``segment_id`` is ``''`` for all sessions, else a segment key ``<id>@<generation>``;
  ``origin`` says whether the worker (``stream``) or a segment backfill wrote the row.
- ``session_totals``: each window's count summed over its partitions and origins, written by
  whoever writes ``session_counts`` (``sessionflow.totals``); newest ``version`` wins. The
  read API's series read it, or ``session_totals_all_apps`` (the same summed over the apps)
  when they name no apps.
- ``segments``: segment definitions; newest ``version`` of (org, segment id) wins.
- ``api_keys``: read API keys, hashed; newest ``version`` of a key wins.
- ``sink_progress``: per source partition, the offset below which a sink may have stored
  records (written before the rows themselves): records at or past it are new, so the sink
  looks up only the ones below it (a redelivery) instead of every record of every batch.
- ``event_counts`` and ``visitor_quarters``: materialized views (events per type, distinct
  visitors) per quarter-hour, for the sibling series.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the worker reads the column definitions without ClickHouse's driver
    from sessionflow.clickhouse import ClickHouse

# Typed columns of `sessions`: column name -> (param key, ClickHouse type). Other params go to
# the param_keys/param_values arrays.
SESSION_PARAM_COLUMNS: dict[str, tuple[str, str]] = {
    "tracking_server": ("analytics.trackingServer", "String"),
    "media_id": ("media.id", "String"),
    "media_length": ("media.length", "Float64"),
    "content_type": ("media.contentType", "String"),
    "player_name": ("media.playerName", "String"),
    "channel": ("media.channel", "String"),
    "media_name": ("media.name", "Nullable(String)"),
    "stream_type": ("media.streamType", "Nullable(String)"),
    "sdk_version": ("media.sdkVersion", "Nullable(String)"),
    "publisher": ("media.publisher", "Nullable(String)"),
    "visitor_id": ("analytics.visitorId", "Nullable(String)"),
    "aid": ("analytics.aid", "Nullable(String)"),
    "mc_user_id": ("visitor.marketingCloudUserId", "Nullable(String)"),
    "aam_location_hint": ("visitor.aamLocationHint", "Nullable(Int64)"),
    "enable_ssl": ("analytics.enableSSL", "Nullable(UInt8)"),
    "resume": ("media.resume", "Nullable(UInt8)"),
    "downloaded": ("media.downloaded", "Nullable(UInt8)"),
    "show": ("media.show", "Nullable(String)"),
    "season": ("media.season", "Nullable(String)"),
    "episode": ("media.episode", "Nullable(String)"),
    "asset_id": ("media.assetId", "Nullable(String)"),
    "genre": ("media.genre", "Nullable(String)"),
    "rating": ("media.rating", "Nullable(String)"),
    "network": ("media.network", "Nullable(String)"),
}

# Typed columns of `events`: column name -> (member, key, ClickHouse type); member is "params"
# or "qoe_data". The error id may come in either (SPEC §2); `error_id` takes the first present.
EVENT_TYPED_COLUMNS: dict[str, tuple[str, str, str]] = {
    "ad_pod_index": ("params", "media.ad.podIndex", "Nullable(Int64)"),
    "ad_pod_second": ("params", "media.ad.podSecond", "Nullable(Float64)"),
    "ad_pod_position": ("params", "media.ad.podPosition", "Nullable(Int64)"),
    "ad_id": ("params", "media.ad.id", "Nullable(String)"),
    "ad_length": ("params", "media.ad.length", "Nullable(Float64)"),
    "ad_player_name": ("params", "media.ad.playerName", "Nullable(String)"),
    "chapter_index": ("params", "media.chapter.index", "Nullable(Int64)"),
    "chapter_offset": ("params", "media.chapter.offset", "Nullable(Float64)"),
    "chapter_length": ("params", "media.chapter.length", "Nullable(Float64)"),
    "state_name": ("params", "media.state.name", "Nullable(String)"),
    "error_id": ("qoe_data", "media.qoe.errorID", "Nullable(String)"),
    "error_source": ("qoe_data", "media.qoe.errorSource", "Nullable(String)"),
    "bitrate": ("qoe_data", "media.qoe.bitrate", "Nullable(Int64)"),
    "dropped_frames": ("qoe_data", "media.qoe.droppedFrames", "Nullable(Int64)"),
    "frames_per_second": ("qoe_data", "media.qoe.framesPerSecond", "Nullable(Int64)"),
    "time_to_start": ("qoe_data", "media.qoe.timeToStart", "Nullable(Int64)"),
}

_EVENT_TYPED_DDL = ",\n    ".join(
    f"{col} {typ}" for col, (_, _, typ) in EVENT_TYPED_COLUMNS.items()
)
_SESSION_PARAM_DDL = ",\n    ".join(
    f"{col} {typ}" for col, (_, typ) in SESSION_PARAM_COLUMNS.items()
)


# The quarter-hour rows' time of day in ``session_counts``' sorting key; a query names quarter
# rows by it (``readapi.series``) to use the index.
QUARTER_PHASE = "if(unit = 'quarter', toUInt32(bucket_start) % 86400, 0)"

# The stored units, as every table of windows types them.
UNIT_TYPE = "Enum8('quarter' = 1, 'hour' = 2, 'day' = 3)"


def _totals_ddl(table: str, per_app: bool) -> str:
    """A table of settled totals (``sessionflow.totals``): one row per window, and per app
    with ``per_app``; newest ``version`` wins. Sorted as ``session_counts`` is."""
    app_column = "    app_id String,\n" if per_app else ""
    app_key = ", app_id" if per_app else ""
    return f"""CREATE TABLE IF NOT EXISTS {{db}}.{table} (
    org_id String,
{app_column}    segment_id String,
    unit {UNIT_TYPE},
    bucket_start DateTime,
    sessions UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, segment_id, unit, {QUARTER_PHASE}, bucket_start{app_key})
SETTINGS index_granularity = 256"""


DDL: tuple[str, ...] = (
    "CREATE DATABASE IF NOT EXISTS {db}",
    f"""CREATE TABLE IF NOT EXISTS {{db}}.sessions (
    session_id String,
    org_id String,
    app_id String,
    session_time DateTime,
    session_time_ms Int64,
    session_time_source Enum8('player' = 1, 'edge' = 2),
    received_ms Int64,
    player_ts_ms Int64,
    playhead Float64,
    {_SESSION_PARAM_DDL},
    param_keys Array(String),
    param_values Array(String),
    custom_keys Array(String),
    custom_values Array(String),
    qoe_keys Array(String),
    qoe_values Array(String),
    user_agent Nullable(String),
    source_partition UInt32,
    source_offset UInt64,
    ingested_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(session_time)
ORDER BY (org_id, app_id, session_id)""",
    f"""CREATE TABLE IF NOT EXISTS {{db}}.events (
    session_id String,
    event_type String,
    event_time DateTime,
    received_ms Int64,
    player_ts_ms Int64,
    playhead Float64,
    session_time_ms Nullable(Int64),
    session_time_source Nullable(String),
    org_id String,
    app_id String,
    user_agent Nullable(String),
    {_EVENT_TYPED_DDL},
    param_keys Array(String),
    param_values Array(String),
    custom_keys Array(String),
    custom_values Array(String),
    qoe_keys Array(String),
    qoe_values Array(String),
    source_partition UInt32,
    source_offset UInt64,
    ingested_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(event_time)
ORDER BY (session_id, source_partition, source_offset)""",
    # Quarter-hours are sorted by their time of day first (QUARTER_PHASE), then by date, and
    # the index marks every 256 rows: a +05:30 day series reads the two quarters it needs of
    # each day (18:30 and 18:45 UTC) as two short runs instead of every quarter of its 100
    # days (bench/data_series.py: p50 36 -> 18 ms). Tables created before keep their key;
    # the same queries answer the same on them, more slowly (README, "Upgrading").
    """CREATE TABLE IF NOT EXISTS {db}.session_counts (
    org_id String,
    app_id String,
    segment_id String,
    unit """
    + UNIT_TYPE
    + """,
    bucket_start DateTime,
    source_partition UInt32,
    origin Enum8('stream' = 1, 'backfill' = 2),
    count UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, segment_id, unit, """
    + QUARTER_PHASE
    + """, bucket_start, app_id,
          source_partition, origin)
SETTINGS index_granularity = 256""",
    # Each window of session_counts summed over partitions and origins (sessionflow.totals):
    # what a series reads, a row per app and window whatever the partition count.
    _totals_ddl("session_totals", per_app=True),
    # The same totals summed over the apps, a row per window: what a series that names no apps
    # reads (a tenth of the rows with 10 apps: bench/data_series.py, a -05:00 day series' query
    # 10 -> 4.4 ms). Written by the same settles (sessionflow.totals), from the same rows.
    _totals_ddl("session_totals_all_apps", per_app=False),
    # One row per closed session (the worker's QoE summary, SPEC §3); the sink deduplicates.
    """CREATE TABLE IF NOT EXISTS {db}.session_summaries (
    session_id String,
    org_id String,
    app_id String,
    session_time DateTime,
    session_time_ms Int64,
    startup_time_ms Nullable(Int64),
    played_ms Int64,
    buffering_ms Int64,
    completed UInt8,
    exited_before_start UInt8,
    closed_reason Enum8('complete' = 1, 'end' = 2, 'timeout' = 3),
    closed_at_ms Int64,
    source_partition UInt32,
    source_offset UInt64,
    ingested_at DateTime
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(session_time)
ORDER BY (org_id, app_id, session_id)""",
    """CREATE VIEW IF NOT EXISTS {db}.session_counts_current AS
SELECT org_id, app_id, segment_id, unit, bucket_start, sum(c) AS sessions
FROM (
    SELECT org_id, app_id, segment_id, unit, bucket_start, source_partition, origin,
           argMax(count, version) AS c
    FROM {db}.session_counts
    GROUP BY org_id, app_id, segment_id, unit, bucket_start, source_partition, origin
)
GROUP BY org_id, app_id, segment_id, unit, bucket_start""",
    """CREATE TABLE IF NOT EXISTS {db}.segments (
    org_id String,
    segment_id String,
    generation UInt64,
    name String,
    app_id Nullable(String),
    filter String,
    status Enum8('backfilling' = 1, 'ready' = 2, 'deleted' = 3),
    markers Array(UInt64),
    created_at DateTime,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (org_id, segment_id)""",
    # Written by the sink before it inserts a batch's rows: "rows of this partition below
    # written_up_to may be stored". The newest (highest) bound wins.
    """CREATE TABLE IF NOT EXISTS {db}.sink_progress (
    topic String,
    source_partition UInt32,
    written_up_to UInt64,
    written_at DateTime
) ENGINE = ReplacingMergeTree(written_up_to)
ORDER BY (topic, source_partition)""",
    """CREATE TABLE IF NOT EXISTS {db}.api_keys (
    key_hash String,
    key_id String,
    org_id String,
    apps Array(String),
    permissions Array(String),
    rate_limit_per_hour UInt64,
    created_at DateTime,
    revoked UInt8,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY key_hash""",
    # Media events per quarter-hour, per org, app and type: the events series sums them. Exact
    # because the sink inserts each event row once (deduplicated before insert).
    """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.event_counts
ENGINE = SummingMergeTree()
ORDER BY (org_id, event_type, bucket_start, app_id)
AS SELECT org_id, app_id, event_type,
          toDateTime(intDiv(toUInt32(event_time), 900) * 900) AS bucket_start,
          count() AS events
FROM {db}.events
GROUP BY org_id, app_id, event_type, bucket_start""",
    # Distinct visitors per quarter-hour as exact uniq states: a day in any offset merges its
    # 96 quarters into an exact distinct count.
    """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.visitor_quarters
ENGINE = AggregatingMergeTree()
ORDER BY (org_id, bucket_start, app_id)
AS SELECT org_id, app_id,
          toDateTime(intDiv(toUInt32(session_time), 900) * 900) AS bucket_start,
          uniqExactState(ifNull(mc_user_id, ifNull(visitor_id, ''))) AS visitors
FROM {db}.sessions
WHERE ifNull(mc_user_id, ifNull(visitor_id, '')) != ''
GROUP BY org_id, app_id, bucket_start""",
    # Sessions that sent any event in a minute (edge receive time), as exact uniq states: the
    # concurrent viewers series merges a minute's apps; an hour is the maximum of its minutes.
    """CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.concurrent_minutes
ENGINE = AggregatingMergeTree()
ORDER BY (org_id, minute, app_id)
AS SELECT org_id, app_id, toStartOfMinute(event_time) AS minute,
          uniqExactState(session_id) AS viewers
FROM {db}.events
WHERE org_id != ''
GROUP BY org_id, app_id, minute""",
)


def statements(database: str) -> list[str]:
    """The DDL statements for ``database``, in order."""
    return [sql.replace("{db}", database) for sql in DDL]


def ensure_tables(clickhouse: ClickHouse) -> None:
    """Create the database and every table unless they exist; on an install from before
    ``session_totals``, ``session_totals_all_apps`` or its shifted hours, fill them from the
    stored counts (``sessionflow.totals.populate``, which tells)."""
    from sessionflow.totals import populate  # the worker imports this module without the driver

    for sql in statements(clickhouse.database):
        clickhouse.execute(sql)
    populate(clickhouse)
