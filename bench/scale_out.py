"""Scale-out benchmark (SPEC §5), two ways:

- ``pipeline``: the same realistic load (``bench/player_sessions.lua`` at max rate for N
  seconds) against one edge process, one worker and one sink, then against two of each
  (``edge --processes 2``, two workers and two sinks in their groups). Reports the edge's rate
  and p99, and how long after the load the worker and the sink had caught up. On 2 cores one
  of each already keeps both busy: the second of each can only take CPU from the others.
- ``components``: each kind of process alone with what it needs, one then two: the edge
  (``--processes 1`` / ``2``, Kafka only, wrk at max rate, the hello-world reference in the
  same run), the workers and the sinks draining the same backlog (300,000 records of 10,000
  sessions in turn, written first; records/s from the first record consumed until the group's
  committed offsets reach the end of every partition). This is what a second process adds
  when there is CPU for it.

Needs scripts/services up and wrk. Run:
    .venv/bin/python bench/scale_out.py [--what pipeline,components] [--seconds 30]
        [--out scale_out.json]
Writes bench/results/<out>.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.capacity import hello_world, lag, session_files, wrk  # noqa: E402
from bench.pipeline import end_offsets, group_lag  # noqa: E402
from sessionflow import kafka  # noqa: E402
from sessionflow.topics import Topics  # noqa: E402
from tests.backlog import write_backlog  # noqa: E402
from tests.e2e.pipeline import Pipeline, launch, settings_env  # noqa: E402
from tests.e2e.test_operations import scrape, total  # noqa: E402
from tests.faults.test_scale_out import wait_ready  # noqa: E402
from tests.services import unique_settings  # noqa: E402

HERE = ROOT / "bench"


def doubled(pipeline: Pipeline) -> dict[str, str]:
    """Two of each: returns the ops URLs of every worker and sink."""
    pipeline.stop("edge")
    pipeline.start("edge", ["edge", "--processes", "2"])
    urls = {"worker": pipeline.ops_urls["worker"], "sink": pipeline.ops_urls["sink"]}
    for name, command in (("worker-b", "worker"), ("sink-b", "sink")):
        urls[name] = pipeline.start_another(name, command)
    for url in [pipeline.edge_url, *urls.values()]:
        wait_ready(url)
    return urls


def measure(two: bool, seconds: int, files: dict[str, str]) -> dict[str, object]:
    work = HERE / "results" / "logs" / ("scale_two" if two else "scale_one")
    work.mkdir(parents=True, exist_ok=True)
    pipeline = launch(unique_settings(), work)
    try:
        urls = doubled(pipeline) if two else {
            "worker": pipeline.ops_urls["worker"], "sink": pipeline.ops_urls["sink"]
        }  # fmt: skip
        wrk(pipeline.edge_url, 3, 32, files)  # warm-up
        time.sleep(5)
        load = wrk(pipeline.edge_url, seconds, 32, files)
        ended = time.monotonic()
        behind = {name: lag(url) for name, url in urls.items()}
        while any(lag(url) for url in urls.values()) and time.monotonic() - ended < 600:
            time.sleep(0.5)
        caught_up = round(time.monotonic() - ended, 1)
    finally:
        pipeline.stop_all()
    return {
        "edge_rps": load["rps"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
        "non2xx": load["non2xx"], "errors": load["errors"], "requests": load["requests"],
        "lag_at_end_of_load": behind, "caught_up_after_load_s": caught_up,
        "records_per_s_end_to_end": round(load["requests"] / (seconds + caught_up)),
    }  # fmt: skip


BACKLOG_SESSIONS = 10_000  # of 30 records each, in turn (live order)


def drain(process: str, count: int) -> dict[str, object]:
    """``count`` workers or sinks (``process``) in their group drain the same backlog."""
    settings = unique_settings()
    topics = Topics(settings.topic_prefix)
    asyncio.run(kafka.ensure_sessionflow_topics(settings))
    asyncio.run(
        write_backlog(settings, "BENCH", ("a", "b"), BACKLOG_SESSIONS, 29, concurrent=10_000)
    )
    ends = asyncio.run(end_offsets(settings, topics.media_events))
    records = sum(ends.values())
    group = topics.worker_app_id if process == "worker" else settings.sink_group
    logs = HERE / "results" / "logs" / f"scale_{process}_{count}"
    logs.mkdir(parents=True, exist_ok=True)
    pipeline = Pipeline(settings, settings_env(settings, os.environ), logs)
    urls = [pipeline.start_another(f"{process}-{n}", process) for n in range(count)]
    try:
        first = None
        while first is None:  # the first record consumed by any of them
            for url in urls:
                try:
                    if total(scrape(url), "sessionflow_records_consumed_total") > 0:
                        first = time.monotonic()
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        while asyncio.run(group_lag(settings, group, topics.media_events)):
            time.sleep(0.2)
        seconds = time.monotonic() - first
        consumed = sum(total(scrape(u), "sessionflow_records_consumed_total") for u in urls)
    finally:
        pipeline.stop_all()
    return {
        "records": records,
        "seconds": round(seconds, 1),
        "records_per_s": round(records / seconds),
        # Records a process consumed again after the group's rebalance handed them over.
        "consumed_again": int(consumed - records),
    }


@contextmanager
def edge_only(processes: int, logs: Path) -> Iterator[Pipeline]:
    """The edge with ``processes`` processes on one port and Kafka only (nothing consuming),
    answering; stopped on leaving."""
    logs.mkdir(parents=True, exist_ok=True)
    settings = unique_settings()
    asyncio.run(kafka.ensure_sessionflow_topics(settings))
    pipeline = Pipeline(settings, settings_env(settings, os.environ), logs)
    pipeline.start("edge", ["edge", "--processes", str(processes)])
    try:
        wait_ready(pipeline.edge_url)
        yield pipeline
    finally:
        pipeline.stop_all()


def edges(processes: int, seconds: int, files: dict[str, str]) -> dict[str, object]:
    """The edge with ``processes`` processes on one port, Kafka only, wrk at max rate."""
    with edge_only(processes, HERE / "results" / "logs" / f"scale_edge_{processes}") as pipeline:
        wrk(pipeline.edge_url, 3, 64, files)  # warm-up
        load = wrk(pipeline.edge_url, seconds, 64, files)
    return {"rps": load["rps"], "p99_ms": load["p99_ms"], "non2xx": load["non2xx"]}


def components(seconds: int, files: dict[str, str]) -> dict[str, object]:
    result: dict[str, object] = {"hello_world_rps": hello_world(seconds, 64, files)["rps"]}
    for name, run in (
        ("edge", lambda n: edges(n, seconds, files)),
        ("worker", lambda n: drain("worker", n)),
        ("sink", lambda n: drain("sink", n)),
    ):
        one, two = run(1), run(2)
        rate = "rps" if name == "edge" else "records_per_s"
        result[name] = {"one": one, "two": two, "two_vs_one": round(two[rate] / one[rate], 2)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--what", default="pipeline,components")
    parser.add_argument("--out", default="scale_out.json")
    args = parser.parse_args()
    work = HERE / "results" / "logs" / "scale"
    work.mkdir(parents=True, exist_ok=True)
    files = session_files(work)
    result: dict[str, object] = {"seconds": args.seconds}
    if "pipeline" in args.what:
        result["one_of_each"] = measure(False, args.seconds, files)
        result["two_of_each"] = measure(True, args.seconds, files)
    if "components" in args.what:
        result["components"] = components(args.seconds, files)
    (HERE / "results" / args.out).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
