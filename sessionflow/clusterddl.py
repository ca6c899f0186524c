"""The DDL of ``sessionflow.tables`` for a ClickHouse cluster (``sessionflow ddl --cluster``).

Every MergeTree table ``T`` becomes ``T_local`` on each node (``Replicated…MergeTree``, one
replica path per shard) and ``T`` a ``Distributed`` table over them, so that every reader and
writer keeps using ``T``. The sharding key of a ``Replacing…`` table is a hash of its sort key:
rows that replace one another land on the same shard. Materialized views read the local table
and write a local target, with a ``Distributed`` table of the same name as before for readers;
plain views read the ``Distributed`` tables. Every statement runs ``ON CLUSTER``.
"""

from __future__ import annotations

import re

from sessionflow.tables import statements

# Sharding key of each table: its deduplication / sort key (rows that replace each other meet).
SHARDING_KEYS = {
    "sessions": "cityHash64(session_id)",
    "events": "cityHash64(session_id)",
    "session_summaries": "cityHash64(session_id)",
    # Not by window: a count record's quarter, hour and day must land on one shard in one
    # insert, or a series that takes an hour away from its day (readapi.series) could read a
    # shard's hour before another shard's day.
    "session_counts": "cityHash64(org_id, segment_id, app_id, source_partition, origin)",
    # A window's totals on one shard: a settle reads every partition's rows through the
    # Distributed session_counts and writes one row per window and app.
    "session_totals": "cityHash64(org_id, segment_id, app_id)",
    "session_totals_all_apps": "cityHash64(org_id, segment_id)",
    "segments": "cityHash64(org_id, segment_id)",
    "api_keys": "cityHash64(key_hash)",
    "sink_progress": "cityHash64(topic, source_partition)",
    "event_counts": "cityHash64(org_id, event_type, bucket_start, app_id)",
    "visitor_quarters": "cityHash64(org_id, bucket_start, app_id)",
    "concurrent_minutes": "cityHash64(org_id, minute, app_id)",
}

_TABLE = re.compile(
    r"CREATE TABLE IF NOT EXISTS (?P<db>\w+)\.(?P<name>\w+) (?P<body>\(.*?\))\s*"
    r"ENGINE = (?P<engine>\w*MergeTree)\((?P<args>[^)]*)\)(?P<rest>.*)",
    re.S,
)
_VIEW = re.compile(
    r"CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<db>\w+)\.(?P<name>\w+)\s*"
    r"ENGINE = (?P<engine>\w*MergeTree)\((?P<args>[^)]*)\)(?P<order>.*?)\nAS (?P<select>.*)",
    re.S,
)


def _replicated(db: str, name: str, engine: str, args: str) -> str:
    path = f"'/clickhouse/tables/{{shard}}/{db}/{name}_local', '{{replica}}'"
    return f"Replicated{engine}({path}{', ' + args if args.strip() else ''})"


def _distributed(db: str, name: str, cluster: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.{name} ON CLUSTER {cluster} AS {db}.{name}_local\n"
        f"ENGINE = Distributed({cluster}, {db}, {name}_local, {SHARDING_KEYS[name]})"
    )


def cluster_statements(database: str, cluster: str) -> list[str]:
    """The cluster DDL for ``database`` on ``cluster`` (as named in ``remote_servers``)."""
    if not re.fullmatch(r"\w+", cluster):
        raise ValueError(f"cluster name {cluster!r}: letters, digits and _ only")
    out: list[str] = []
    for sql in statements(database):
        if sql.startswith("CREATE DATABASE"):
            out.append(f"{sql} ON CLUSTER {cluster}")
        elif table := _TABLE.fullmatch(sql):
            db, name = table["db"], table["name"]
            engine = _replicated(db, name, table["engine"], table["args"])
            out.append(
                f"CREATE TABLE IF NOT EXISTS {db}.{name}_local ON CLUSTER {cluster} "
                f"{table['body']} ENGINE = {engine}{table['rest']}"
            )
            out.append(_distributed(db, name, cluster))
        elif view := _VIEW.fullmatch(sql):
            db, name = view["db"], view["name"]
            engine = _replicated(db, name, view["engine"], view["args"])
            select = re.sub(rf"FROM {db}\.(\w+)", rf"FROM {db}.\1_local", view["select"])
            out.append(
                f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name}_local ON CLUSTER {cluster}"
                f"\nENGINE = {engine}{view['order']}\nAS {select}"
            )
            out.append(_distributed(db, name, cluster))
        elif sql.startswith("CREATE VIEW IF NOT EXISTS "):
            out.append(sql.replace(" AS\n", f" ON CLUSTER {cluster} AS\n", 1))
        else:
            raise ValueError(f"no cluster form for: {sql[:60]}")
    return out
