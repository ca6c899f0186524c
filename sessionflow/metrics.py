"""Every Prometheus metric sessionflow exports, named in one place (README "Operations").

Each process registers what it does into the default registry; ``sessionflow.ops`` serves it
at ``GET /metrics``. When ``PROMETHEUS_MULTIPROC_DIR`` is set (a command running several
processes on one port), prometheus-client writes the values to files there and ``/metrics``
aggregates them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No ``*_created`` series: they double the page and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Latency buckets in seconds, from a cached answer to a slow ClickHouse query.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "sessionflow_http_requests",
    "HTTP requests answered, by process, route template, method and status.",
    ["process", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "sessionflow_http_request_duration_seconds",
    "Time to answer an HTTP request, by process and route template.",
    ["process", "route", "method"],
    buckets=LATENCY_BUCKETS,
)
RATE_LIMITED = Counter(
    "sessionflow_rate_limited", "Read API requests refused with 429, by route.", ["route"]
)
KAFKA_PRODUCE_LATENCY = Histogram(
    "sessionflow_kafka_produce_duration_seconds",
    "Time from publish to Kafka's acks=all acknowledgement, by topic.",
    ["topic"],
    buckets=LATENCY_BUCKETS,
)
KAFKA_BATCH_RECORDS = Histogram(
    "sessionflow_kafka_batch_records",
    "Records per record batch Kafka acknowledged to the edge's producer, by topic.",
    ["topic"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096),
)
KAFKA_PRODUCE_FAILURES = Counter(
    "sessionflow_kafka_produce_failures",
    "Records Kafka did not take (timeout or error), by topic and reason.",
    ["topic", "reason"],
)
RECORDS_CONSUMED = Counter(
    "sessionflow_records_consumed",
    "Kafka records consumed, by process and topic.",
    ["process", "topic"],
)
RECORDS_COUNTED = Counter(
    "sessionflow_records_counted",
    "sessionStarts the worker counted into its windows.",
)
RECORDS_SKIPPED = Counter(
    "sessionflow_records_skipped",
    "Records the worker read and did not count (other event types, segment markers).",
    ["reason"],
)
RECORDS_DEAD_LETTERED = Counter(
    "sessionflow_records_dead_lettered",
    "Records sent to the dead-letter topic, by process and reason.",
    ["process", "reason"],
)
QOE_SESSIONS_CLOSED = Counter(
    "sessionflow_qoe_sessions_closed",
    "Sessions whose QoE summary the worker published, by how they closed.",
    ["reason"],
)
CHANGELOG_RESTORED = Counter(
    "sessionflow_worker_changelog_records_restored",
    "Changelog records the worker replayed into a table (at start, and when a rebalance hands "
    "it partitions): with its RocksDB files kept, only those written since it last ran.",
    ["table"],
)
CONSUMER_LAG = Gauge(
    "sessionflow_consumer_lag",
    "Records behind the end of the partition, by process, topic and partition.",
    ["process", "topic", "partition"],
    multiprocess_mode="max",
)
ROCKSDB_MEMORY = Gauge(
    "sessionflow_worker_rocksdb_bytes",
    "Memory the worker's RocksDB tables hold, by part (block_cache, memtables), of the budget "
    "SESSIONFLOW_WORKER_ROCKSDB_MEMORY_MB.",
    ["part"],
    multiprocess_mode="max",
)
CLICKHOUSE_ROWS = Counter(
    "sessionflow_clickhouse_rows", "Rows the sink inserted into ClickHouse, by table.", ["table"]
)
CLICKHOUSE_INSERT_LATENCY = Histogram(
    "sessionflow_clickhouse_insert_duration_seconds",
    "Time of one ClickHouse INSERT, by table.",
    ["table"],
    buckets=LATENCY_BUCKETS,
)
SINK_DUPLICATES = Counter(
    "sessionflow_sink_duplicates",
    "Redelivered records the sink recognised as stored already.",
)
SINK_HELD = Gauge(
    "sessionflow_sink_held_records",
    "Events and summaries the sink holds for its next store (fetched, not stored or committed).",
)
GC_PAUSES = Histogram(
    "sessionflow_gc_pause_seconds",
    "Time the process stood still in one run of Python's cyclic garbage collector, by the "
    "oldest generation it collected (2: a full collection; sessionflow.garbage).",
    ["generation"],
    buckets=(0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
