"""Capacity at realistic player traffic (SPEC §5), the whole pipeline running:

1. reference: a bare hello-world app (``bench/hello.py``, one uvicorn process) under the same
   realistic load — sessionStarts and the ~60 events of a real session
   (``bench/player_sessions.lua`` fed by ``sessionflow.players``) — at its max rate (wrk);
2. the edge (one process, acks=all) under that load at its max rate, while the worker's and
   the sink's consumer lag is read from their /metrics every second; then the drain time, and
   what the sink had not stored at the end (it holds fetched records for its next store:
   its committed offsets) and when it had stored it all;
   Each process's CPU during that run (``bench/cpu.py``: percent of one core; "others" is
   wrk and the rest of the machine);
3. the edge at 80 % of that rate: latency percentiles, and freshness meanwhile (a probe app's
   sessionStarts, one after the other: 201 -> visible in data_series); the reference's p99 at
   80 % of its own max rate, paced the same way, beside it.

Needs scripts/services up and wrk. Run:
    .venv/bin/python bench/capacity.py [--seconds 60] [--connections 64] [--out capacity.json]
        [--consumers-nice 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cpu import CpuShares, renice, services_pids  # noqa: E402
from bench.pipeline import group_lag  # noqa: E402
from bench.stats import percentile  # noqa: E402
from sessionflow import players  # noqa: E402
from sessionflow.topics import Topics  # noqa: E402
from tests.e2e.pipeline import launch  # noqa: E402
from tests.e2e.test_operations import scrape, total  # noqa: E402
from tests.services import free_port, unique_settings  # noqa: E402

HERE = ROOT / "bench"


def wrk_json(out: str) -> dict:
    """The JSON summary a ``bench/*.lua`` script prints on wrk's stdout (its ``JSON`` line)."""
    return json.loads(re.search(r"^JSON (.*)$", out, re.M).group(1))  # type: ignore[union-attr]


def wrk(url: str, seconds: int, connections: int, env: dict[str, str], delay_ms: int = 0) -> dict:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
         str(HERE / "player_sessions.lua"), url],
        capture_output=True, text=True, check=True,
        env={**os.environ, **env, "BENCH_DELAY_MS": str(delay_ms)},
    ).stdout  # fmt: skip
    result = wrk_json(out)
    result["rps"] = round(result["requests"] / result["seconds"])
    return result


# The reference runs on the edge's uvicorn options (``sessionflow_cli.cli._serve``): the same
# HTTP server stack, nothing but the app differs.
HELLO_COMMAND = [
    sys.executable, "-m", "uvicorn", "hello:app", "--log-level", "warning", "--no-access-log",
    "--no-proxy-headers",
]  # fmt: skip


@contextmanager
def hello_app() -> Iterator[tuple[str, int]]:
    """``bench/hello.py`` in one uvicorn process, answering: its URL and pid."""
    port = free_port()
    process = subprocess.Popen([*HELLO_COMMAND, "--port", str(port)], cwd=HERE)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.post(url + "/api/v1/sessions", content=b"{}")
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait()


def hello_world(seconds: int, connections: int, files: dict[str, str]) -> dict:
    """The reference: ``bench/hello.py`` (one uvicorn process) under the same wrk load, at its
    max rate, then at 80 % of it as the edge is (``at_80_percent``: the p99 this machine gives
    an app that does nothing, paced the same way)."""
    with hello_app() as (url, _pid):
        result = wrk(url, seconds, connections, files)
        target = 0.8 * result["rps"]
        delay_ms = calibrated_delay(url, connections, target, files)
        paced = wrk(url, min(seconds, 30), connections, files, delay_ms)
        result["at_80_percent"] = {"target_rps": round(target), **paced}
        return result


def session_files(folder: Path) -> dict[str, str]:
    now_ms = int(time.time() * 1000)
    start = players.session_start("BENCH@AdobeOrg", "bench-app", now_ms)
    steps = players.realistic_session(now_ms, rng=random.Random(7))
    (folder / "start.json").write_text(json.dumps(start))
    (folder / "events.txt").write_text("".join(json.dumps(s.body) + "\n" for s in steps))
    return {
        "BENCH_START_FILE": str(folder / "start.json"),
        "BENCH_EVENTS_FILE": str(folder / "events.txt"),
    }


def calibrated_delay(url: str, connections: int, target_rps: float, env: dict[str, str]) -> int:
    """The per-request think time (ms) at which ``connections`` wrk connections send
    ``target_rps``, found by short probes (wrk has no fixed-rate mode)."""
    delay_ms = max(1, int(1000 * connections / target_rps))
    for _ in range(6):
        rps = wrk(url, 5, connections, env, delay_ms)["rps"]
        if abs(rps - target_rps) <= 0.05 * target_rps:
            break
        delay_ms = max(1, round(delay_ms * rps / target_rps))
    return delay_ms


def freshness(edge_url: str, api_url: str, key: str, stop: threading.Event) -> list[float]:
    """201 -> visible in data_series, in ms, for sessionStarts of a probe app posted one after
    the other while the load runs (the probe app's count only moves with them)."""
    auth = {"Authorization": f"Bearer {key}"}
    body = players.session_start("BENCH@AdobeOrg", "fresh-probe", 0)
    samples: list[float] = []
    with (
        httpx.Client(base_url=edge_url, timeout=10) as edge,
        httpx.Client(base_url=api_url, timeout=10) as api,
    ):

        def count() -> int:
            end = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
            data = api.get("/sessions/data_series", headers=auth, params={
                "length": 2, "unit": "hour", "ending_at": end, "app_id": "fresh-probe",
            }).json()["data"]  # fmt: skip
            return sum(item["sessions"] for item in data)

        while not stop.is_set():
            before = count()
            body["playerTime"] = {"playhead": 0, "ts": int(time.time() * 1000)}
            started = time.perf_counter()
            if edge.post("/api/v1/sessions", json=body).status_code != 201:
                continue
            while count() <= before and time.perf_counter() - started < 30:
                time.sleep(0.02)
            samples.append((time.perf_counter() - started) * 1000)
            stop.wait(0.3)
    return samples


def lag(url: str) -> int:
    samples = scrape(url)
    return int(
        sum(
            value
            for labels, value in samples.get("sessionflow_consumer_lag", [])
            if labels["topic"].endswith("media-events")
        )
    )


def gc_pauses(url: str) -> dict[str, dict[str, float]]:
    """A process's garbage-collector pauses so far (``sessionflow_gc_pause_seconds``): runs
    and seconds stood still, by generation."""
    samples = scrape(url)
    found: dict[str, dict[str, float]] = {}
    for suffix, name in (("_count", "runs"), ("_sum", "seconds")):
        for labels, value in samples.get("sessionflow_gc_pause_seconds" + suffix, []):
            found.setdefault(labels["generation"], {})[name] = round(value, 3)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    # 64: with 32 the coalescing edge waits on Kafka's acknowledgements part of the time (its max
    # rate is CPU-bound from ~64 connections); the reference gets the same number.
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", default="capacity.json")
    # The worker's and the sink's nice value: on a shared machine the edge answers players
    # first and the consumers catch up (0: all equal, as by default).
    parser.add_argument("--consumers-nice", type=int, default=0)
    args = parser.parse_args()
    work = HERE / "results" / "logs" / "capacity"
    work.mkdir(parents=True, exist_ok=True)
    files = session_files(work)
    pipeline = launch(unique_settings(), work)
    for name in ("worker", "sink"):
        renice(pipeline.children[name].pid, args.consumers_nice)
    results: dict[str, object] = {
        "connections": args.connections,
        "seconds": args.seconds,
        "consumers_nice": args.consumers_nice,
    }
    try:
        reference = hello_world(args.seconds, args.connections, files)
        wrk(pipeline.edge_url, 3, args.connections, files)  # warm-up
        time.sleep(5)
        urls = pipeline.ops_urls
        samples: list[dict[str, float]] = []
        stop = threading.Event()

        def sample() -> None:
            began = time.monotonic()
            while not stop.is_set():
                samples.append({
                    "t": round(time.monotonic() - began, 1),
                    "worker_lag": lag(urls["worker"]), "sink_lag": lag(urls["sink"]),
                })  # fmt: skip
                stop.wait(1.0)

        sampler = threading.Thread(target=sample)
        sampler.start()
        pids = {name: child.pid for name, child in pipeline.children.items()}
        cpu = CpuShares({**pids, **services_pids()})
        edge_max = wrk(pipeline.edge_url, args.seconds, args.connections, files)
        edge_max["cpu_percent_of_one_core"] = cpu.done()
        at_end = samples[-1]
        # What the sink has not stored yet: its lag counts records not fetched, and it holds
        # what it fetched for up to SINK_STORE_INTERVAL_MS; its committed offsets say stored.
        sink_group = pipeline.settings.sink_group
        events_topic = Topics(pipeline.settings.topic_prefix).media_events
        unstored_at_end = asyncio.run(group_lag(pipeline.settings, sink_group, events_topic))
        drained = stored = None
        drain_began = time.monotonic()
        while time.monotonic() - drain_began < 600:
            if drained is None and lag(urls["worker"]) == 0 and lag(urls["sink"]) == 0:
                drained = round(time.monotonic() - drain_began, 1)
            if stored is None and not asyncio.run(
                group_lag(pipeline.settings, sink_group, events_topic)
            ):
                stored = round(time.monotonic() - drain_began, 1)
            if drained is not None and stored is not None:
                break
            time.sleep(0.5)
        stop.set()
        sampler.join()
        target = 0.8 * edge_max["rps"]
        connections = args.connections
        delay_ms = calibrated_delay(pipeline.edge_url, connections, target, files)
        key = pipeline.create_key("--org", "BENCH@AdobeOrg")
        probes_done = threading.Event()
        fresh: list[float] = []
        prober = threading.Thread(
            target=lambda: fresh.extend(
                freshness(pipeline.edge_url, pipeline.api_url, key, probes_done)
            )
        )
        prober.start()
        paced = wrk(pipeline.edge_url, min(args.seconds, 30), connections, files, delay_ms)
        probes_done.set()
        prober.join()
        paced["freshness_ms"] = {
            "p50": round(percentile(fresh, 50)), "p99": round(percentile(fresh, 99)),
            "max": round(max(fresh)), "samples": len(fresh),
        }  # fmt: skip
        edge_metrics = scrape(pipeline.edge_url)
        pauses = {name: gc_pauses(url) for name, url in urls.items()}
        results.update({
            "hello_world_rps": reference["rps"],
            "edge_rps": edge_max["rps"],
            "edge_vs_hello": round(edge_max["rps"] / reference["rps"], 3),
            "reference": reference,
            "edge_max": edge_max,
            "lag_at_end_of_load": at_end,
            "lag_in_seconds_of_traffic": {
                k: round(at_end[k] / edge_max["rps"], 2) for k in ("worker_lag", "sink_lag")
            },
            "drained_after_load_s": drained,
            "sink_unstored_at_end_of_load": unstored_at_end,
            "sink_unstored_in_seconds_of_traffic": round(unstored_at_end / edge_max["rps"], 2),
            "sink_stored_all_after_load_s": stored,
            "at_80_percent": {"target_rps": round(target), **paced},
            "edge_requests_by_status": {
                labels["status"]: value
                for labels, value in edge_metrics["sessionflow_http_requests_total"]
                if labels["route"].startswith("/api/v1/sessions")
            },
            "kafka_produce_failures": total(
                edge_metrics, "sessionflow_kafka_produce_failures_total"
            ),
            "gc_pauses": pauses,
            "lag_samples": samples,
        })  # fmt: skip
    finally:
        pipeline.stop_all()
    (HERE / "results" / args.out).write_text(json.dumps(results, indent=2) + "\n")
    summary = {k: v for k, v in results.items() if k != "lag_samples"}
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
