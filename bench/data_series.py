"""data_series benchmark: ≥ 10 M stored sessions; p50/p99 of GET /sessions/data_series
(length 100) through the real API process, against the same answer computed from raw rows.

Needs ClickHouse (scripts/services up). Run:
    .venv/bin/python bench/data_series.py [--sessions 10000000] [--requests 300] [--out F]
Writes bench/results/data_series.json (or F). The sessions are generated inside ClickHouse
(INSERT … SELECT FROM numbers) and the counts built with sessionflow's own reconcile. Beside each
series' p50/p99: the same answer from raw rows, and ``machine_same_work`` (``bench/machine.py``:
pure-Python CPU work as long as the series' p50, as many times: the p99 this machine gives any
work of that length); ``health``: ``GET /health`` through the same API.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import fixed_work
from bench.stats import percentile
from readapi.keys import KeyStore
from readapi.segments import READY, Segment, SegmentStore
from sessionflow.backfill import backfill
from sessionflow.clickhouse import ClickHouse
from sessionflow.reconcile import reconcile
from sessionflow.segmentfilter import canonical, parse_filter, to_sql
from sessionflow.settings import Settings
from sessionflow.tables import ensure_tables
from sessionflow.timebuckets import Unit, series_buckets, to_ms

HERE = Path(__file__).resolve().parent
GOLD = {"field": "customMetadata.tier", "op": "eq", "value": "gold"}
DAYS = 120
APPS = 10


def load(clickhouse: ClickHouse, sessions: int, now_s: int) -> None:
    """``sessions`` sessions over ``DAYS`` days in ``APPS`` apps, in 4 source partitions; every
    app's sessions in every partition, as the edge's hash of the session id spreads them (an
    app of ``number % 10`` beside a partition of ``number % 4`` had put each app in 2 of them)."""
    db = clickhouse.database
    have = clickhouse.execute(f"SELECT count() FROM {db}.sessions")[0][0]
    if have >= sessions:
        return
    span = DAYS * 86400
    clickhouse.execute(f"""
INSERT INTO {db}.sessions (session_id, org_id, app_id, session_time, session_time_ms,
    session_time_source, received_ms, player_ts_ms, playhead, tracking_server, media_id,
    media_length, content_type, player_name, channel, custom_keys, custom_values,
    source_partition, source_offset, ingested_at)
SELECT concat(lower(hex(MD5(toString(number)))), lower(hex(MD5(toString(number + 1))))),
       'BENCH@AdobeOrg', concat('app-', toString(intHash32(number) % {APPS})),
       toDateTime({now_s} - (number * 7919) % {span}),
       toInt64({now_s} - (number * 7919) % {span}) * 1000,
       'player', toInt64({now_s}) * 1000, toInt64({now_s}) * 1000, 0,
       't', 'm', 60.5, 'VOD', 'p', 'c', ['tier'],
       [arrayElement(['gold', 'silver', 'bronze'], number % 3 + 1)],
       number % 4, intDiv(number, 4), now()
FROM numbers({sessions})""")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--out", default="data_series.json", help="file name in bench/results")
    args = parser.parse_args()
    settings = Settings.from_environ(
        {**os.environ, "SESSIONFLOW_CLICKHOUSE_DATABASE": "bench_series",
         "SESSIONFLOW_API_PORT": "18281", "SESSIONFLOW_RATE_LIMIT_PER_HOUR": "100000000"}
    )  # fmt: skip
    clickhouse = ClickHouse(settings, pool_size=1)
    if (
        clickhouse.execute(
            "SELECT count() FROM system.columns WHERE database = 'bench_series' "
            "AND table = 'session_counts'"
        )[0][0]
        and not clickhouse.execute(
            "SELECT count() FROM system.columns WHERE database = 'bench_series' "
            "AND table = 'session_counts' AND name = 'origin'"
        )[0][0]
    ):
        clickhouse.execute("DROP DATABASE bench_series")  # generated data of an older schema
    if not clickhouse.execute(
        "SELECT count() FROM system.tables WHERE database = 'bench_series' "
        "AND name = 'session_counts' AND position(sorting_key, 'toUInt32') > 0"
    )[0][0]:
        # Counts of an older sorting key: rebuilt below from the sessions, which stay.
        clickhouse.execute("DROP TABLE IF EXISTS bench_series.session_counts")
    ensure_tables(clickhouse)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    started = time.monotonic()
    load(clickhouse, args.sessions, int(now.timestamp()))
    stored = clickhouse.execute(f"SELECT count() FROM {settings.clickhouse_database}.sessions")
    if not clickhouse.execute(f"SELECT count() FROM {settings.clickhouse_database}.session_counts")[
        0
    ][0]:
        reconcile(clickhouse, to_ms(now - timedelta(days=DAYS + 1)), to_ms(now + timedelta(days=1)))
    load_seconds = time.monotonic() - started
    # A segment of a third of the sessions, its history backfilled from the raw rows (as a PUT
    # does once the sink has stored everything before the markers; all rows here are before).
    # Measured on every run: a new generation of the segment, backfilled again.
    store = SegmentStore(clickhouse)
    stamp = time.time_ns() // 1000
    node = parse_filter(GOLD)
    segment = Segment(
        org_id="BENCH@AdobeOrg",
        segment_id="gold",
        generation=stamp,
        app_id=None,
        filter=canonical(node),
        name="gold",
        status=READY,
        markers=(2**62,) * 4,
        created_at=datetime.now(UTC),
        version=stamp,
    )
    t0 = time.monotonic()
    backfill(clickhouse, segment)
    backfill_seconds = round(time.monotonic() - t0, 1)
    store.save(segment)
    time.sleep(15)  # let ClickHouse merge the parts the backfill wrote before timing reads
    key, _ = KeyStore(clickhouse, 0, settings.rate_limit_per_hour).create("BENCH@AdobeOrg")

    env = {**os.environ, **{f"SESSIONFLOW_{k.upper()}": str(v) for k, v in
           (("clickhouse_database", "bench_series"), ("api_port", 18281),
            ("rate_limit_per_hour", 100_000_000))}}  # fmt: skip
    api = subprocess.Popen([sys.executable, "-m", "sessionflow_cli", "api"], env=env)
    results: dict[str, object] = {
        "sessions": stored[0][0],
        "load_seconds": round(load_seconds, 1),
        "segment_backfill_seconds": backfill_seconds,
    }
    try:
        client = httpx.Client(base_url="http://127.0.0.1:18281", timeout=10)
        for _ in range(100):
            try:
                client.get("/health")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        health_ms = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            client.get("/health")
            health_ms.append((time.perf_counter() - t0) * 1000)
        results["health"] = {
            "api_p50_ms": round(percentile(health_ms, 50), 2),
            "api_p99_ms": round(percentile(health_ms, 99), 2),
        }
        cases = {
            "day_utc": ("day", now.isoformat(), None),
            "hour_utc": ("hour", now.isoformat(), None),
            "day_-05:00": ("day", now.astimezone(timezone_of(-300)).isoformat(), None),
            "day_+05:30": ("day", now.astimezone(timezone_of(330)).isoformat(), None),
            "hour_+05:45": ("hour", now.astimezone(timezone_of(345)).isoformat(), None),
            # India's hours: two quarter-hours of every hour read (the most of any offset's)
            "hour_+05:30": ("hour", now.astimezone(timezone_of(330)).isoformat(), None),
            "segment_day_utc": ("day", now.isoformat(), "gold"),
            "segment_hour_+05:45": ("hour", now.astimezone(timezone_of(345)).isoformat(), "gold"),
            "segment_day_+05:30": ("day", now.astimezone(timezone_of(330)).isoformat(), "gold"),
        }
        for name, (unit, ending_at, segment_id) in cases.items():
            params = {"length": 100, "unit": unit, "ending_at": ending_at}
            if segment_id:
                params["segment_id"] = segment_id
            headers = {"Authorization": f"Bearer {key}"}
            for _ in range(10):  # warm-up
                client.get("/sessions/data_series", params=params, headers=headers)
            api_ms = []
            for _ in range(args.requests):
                t0 = time.perf_counter()
                response = client.get("/sessions/data_series", params=params, headers=headers)
                api_ms.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.text
            answer = [item["sessions"] for item in response.json()["data"]]
            raw_ms, raw_answer = raw_series(clickhouse, unit, ending_at, segment_id is not None)
            assert raw_answer == answer, f"{name}: aggregates and raw rows disagree"
            p50 = percentile(api_ms, 50)
            results[name] = {
                "api_p50_ms": round(p50, 2),
                "api_p99_ms": round(percentile(api_ms, 99), 2),
                # The reference for the p99: the same machine running CPU work as long as this
                # series' p50, as many times (the VM's stalls stretch it alike).
                "machine_same_work": fixed_work(p50, args.requests),
                "raw_p50_ms": round(percentile(raw_ms, 50), 1),
                "raw_p99_ms": round(percentile(raw_ms, 99), 1),
                "speedup_p50": round(statistics.median(raw_ms) / statistics.median(api_ms), 1),
                "sessions_in_answer": sum(answer),
            }
    finally:
        api.terminate()
        api.wait()
        clickhouse.close()
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


def timezone_of(minutes: int):  # type: ignore[no-untyped-def]
    from datetime import timezone

    return timezone(timedelta(minutes=minutes))


def raw_series(
    clickhouse: ClickHouse, unit: str, ending_at: str, gold: bool
) -> tuple[list[float], list[int]]:
    """The same series from raw session rows (distinct ids), timed over 20 runs."""
    from readapi.params import parse_ending_at

    end = parse_ending_at(ending_at)
    buckets = series_buckets(end, Unit(unit), 100)
    first_s, end_s = buckets[0].start_ms // 1000, buckets[-1].end_ms // 1000
    width = (buckets[0].end_ms - buckets[0].start_ms) // 1000
    segment, params = "", {}
    if gold:
        filter_sql, params = to_sql(parse_filter(GOLD))
        segment = "AND " + filter_sql
    sql = f"""
SELECT intDiv(toInt64(toUInt32(session_time)) - {first_s}, {width}) AS idx, uniqExact(session_id)
FROM {clickhouse.database}.sessions
WHERE org_id = 'BENCH@AdobeOrg' AND session_time >= toDateTime({first_s})
  AND session_time < toDateTime({end_s}) {segment}
GROUP BY idx"""
    times = []
    rows: list = []
    for _ in range(20):
        t0 = time.perf_counter()
        rows = clickhouse.execute(sql, params)
        times.append((time.perf_counter() - t0) * 1000)
    counts = [0] * 100
    for idx, n in rows:
        counts[int(idx)] = int(n)
    return times, counts


if __name__ == "__main__":
    main()
