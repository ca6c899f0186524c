"""Concurrent viewers the whole pipeline holds (SPEC §5): N simulated viewers in real time for
10 minutes, driven by wrk (``bench/viewers.lua``: each viewer plays a real session — 10 s pings,
1 s pings during ads, the startup burst; 5 to 15 minutes of content — then starts another),
with the worker's and the sink's consumer lag and every process's RSS sampled every 10 s.

Held means: no non-2xx answer, no connection error, requests sent on time (the load generator
kept up: ``late_over_1s``), and the lag bounded (its maximum, in seconds of traffic).

Real viewers keep a connection each; wrk's are shared, and a request due while every connection
waits for an answer goes out late: give enough of them that the load generator is not the limit
(``--connections`` >= requests/s x the answer's latency, Little's law; 1,024 for 50,000 viewers).
Every process's CPU over the steady state (after the ramp) is in the result (``bench/cpu.py``).

The reference, first and in the same run: the same viewers against the hello-world
(``bench/hello.py``, one uvicorn process with the edge's options) for ``--reference-seconds``,
its ramp scaled alike; ``hello_us_per_request`` against ``edge_us_per_request`` (each over its
whole run) is what the edge adds to the HTTP stack at this traffic.

``sessionflow loadgen`` (Python, one request per viewer at a time) tops out near 1,000 req/s on
this machine, ~6,000 viewers; wrk sends the same sessions for a fraction of the CPU.

``--edge-processes N`` serves the edge with ``sessionflow edge --processes N`` (its CPU is the
sum of its processes').

Needs scripts/services up and wrk. Run:
    .venv/bin/python bench/viewers.py --viewers 20000 [--seconds 600] [--connections 256]
Writes bench/results/viewers_wrk_<N>.json.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.capacity import hello_app, lag, wrk_json  # noqa: E402
from bench.cpu import TICKS, CpuShares, process_ticks, renice, services_pids  # noqa: E402
from bench.soak import rss_mb, server_side  # noqa: E402
from sessionflow import players  # noqa: E402
from tests.e2e.pipeline import launch  # noqa: E402
from tests.e2e.test_operations import scrape, total  # noqa: E402
from tests.faults.test_scale_out import children_of, wait_ready  # noqa: E402
from tests.services import unique_settings  # noqa: E402

HERE = ROOT / "bench"


def timelines(count: int = 16) -> list[list[players.Step]]:
    """``count`` timed sessions (offsets from the 201) of 5 to 15 minutes of content: viewers
    of different content do not send their pings, ad breaks and sessionCompletes in step."""
    rng = random.Random(7)
    return [
        players.realistic_session(0, content_s=rng.randrange(300, 900), rng=rng)
        for _ in range(count)
    ]


def requests_per_viewer_second(sessions: list[list[players.Step]]) -> float:
    """What one viewer sends per second in the long run: each session draws one of
    ``sessions`` at random, and its viewer starts the next when it ends (a sessionStart, then
    the session's events; a renewal process: total requests over total time)."""
    return sum(len(steps) + 1 for steps in sessions) / sum(
        steps[-1].at_ms / 1000 for steps in sessions
    )


def session_files(folder: Path, sessions: list[list[players.Step]]) -> dict[str, str]:
    """The sessionStart body and ``sessions``' timelines as ``bench/viewers.lua`` reads them."""
    start = players.session_start("BENCH@AdobeOrg", "viewers", int(time.time() * 1000))
    (folder / "start.json").write_text(json.dumps(start))
    files = []
    for n, steps in enumerate(sessions):
        path = folder / f"timeline_{n}.txt"
        path.write_text("".join(f"{step.at_ms}\t{json.dumps(step.body)}\n" for step in steps))
        files.append(str(path))
    return {"BENCH_START_FILE": str(folder / "start.json"), "BENCH_EVENTS_FILES": ",".join(files)}


def viewers_load(url: str, seconds: int, connections: int, env: dict[str, str]) -> subprocess.Popen:
    """wrk playing ``bench/viewers.lua`` against ``url`` (its JSON summary on stdout)."""
    return subprocess.Popen(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "--latency", "-s", str(HERE / "viewers.lua"), url],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip


def summary(load: subprocess.Popen) -> dict:
    return wrk_json(load.communicate()[0])


def reference(seconds: int, ramp: int, connections: int, env: dict[str, str]) -> dict:
    """The same viewers against ``bench/hello.py`` (one uvicorn process, the edge's options):
    what the HTTP stack alone costs per request at real-time traffic, where requests arrive one
    by one on many connections."""
    with hello_app() as (url, pid):
        before = process_ticks(pid)
        load = viewers_load(url, seconds, connections, {**env, "BENCH_RAMP_S": str(ramp)})
        result = summary(load)
        cpu_s = (process_ticks(pid) - before) / TICKS
    return {
        "seconds": seconds,
        "ramp_s": ramp,
        "requests": result["requests"],
        "req_per_s": round(result["requests"] / result["seconds"]),
        "late_over_1s": result["late_over_1s"],
        "non2xx": result["non2xx"],
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "hello_cpu_s": round(cpu_s, 1),
        "hello_us_per_request": round(1e6 * cpu_s / result["requests"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--ramp", type=int, default=300, help="seconds over which viewers join")
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument(
        "--reference-seconds", type=int, default=180,
        help="first, the same viewers against the hello-world for this long, its ramp scaled "
        "alike (0: no reference)",
    )  # fmt: skip
    parser.add_argument("--edge-processes", type=int, default=1)
    # As bench/capacity.py's: the worker's and the sink's nice value (0: all equal).
    parser.add_argument("--consumers-nice", type=int, default=0)
    parser.add_argument("--out", default=None, help="a file name in bench/results/")
    args = parser.parse_args()
    work = HERE / "results" / "logs" / "viewers"
    work.mkdir(parents=True, exist_ok=True)
    pipeline = launch(unique_settings(), work)
    if args.edge_processes > 1:
        pipeline.stop("edge")
        pipeline.start("edge", ["edge", "--processes", str(args.edge_processes)])
        wait_ready(pipeline.edge_url)
    for name in ("worker", "sink"):
        renice(pipeline.children[name].pid, args.consumers_nice)
    sessions = timelines()
    env = {
        **session_files(work, sessions),
        "BENCH_VIEWERS": str(args.viewers),
        "BENCH_RAMP_S": str(args.ramp),
    }
    samples: list[dict[str, float]] = []
    try:
        env = {**pipeline.env, **env}
        hello = None
        if args.reference_seconds:
            ramp = round(args.ramp * args.reference_seconds / args.seconds)
            hello = reference(args.reference_seconds, ramp, args.connections, env)
        edge_pid = pipeline.children["edge"].pid
        edges = [edge_pid, *children_of(edge_pid)]  # with --processes: uvicorn's workers too
        edge_ticks = sum(process_ticks(pid) for pid in edges)
        load = viewers_load(pipeline.edge_url, args.seconds, args.connections, env)
        began = time.monotonic()
        consumed_before = 0.0
        pids = {name: child.pid for name, child in pipeline.children.items()}
        pids.update({f"edge-{n}": pid for n, pid in enumerate(edges[1:], 1)})
        cpu: CpuShares | None = None
        while load.poll() is None:
            time.sleep(10)
            sample: dict[str, float] = {"t_s": round(time.monotonic() - began)}
            if cpu is None and sample["t_s"] >= args.ramp:  # every viewer in: the steady state
                cpu = CpuShares({**pids, **services_pids()})
            for name, child in pipeline.children.items():
                sample[f"{name}_rss_mb"] = rss_mb(child.pid)
            for n, pid in enumerate(edges[1:], 1):
                sample[f"edge-{n}_rss_mb"] = rss_mb(pid)
            sample["worker_lag"] = lag(pipeline.ops_urls["worker"])
            sample["sink_lag"] = lag(pipeline.ops_urls["sink"])
            consumed = total(
                scrape(pipeline.ops_urls["worker"]), "sessionflow_records_consumed_total"
            )
            sample["worker_records_per_s"] = round((consumed - consumed_before) / 10)
            consumed_before = consumed
            samples.append(sample)
        wrk_result = summary(load)
        edge_cpu_s = (sum(process_ticks(pid) for pid in edges) - edge_ticks) / TICKS
        cpu_shares = cpu.done() if cpu is not None else {}
        drained = time.monotonic()
        while lag(pipeline.ops_urls["worker"]) or lag(pipeline.ops_urls["sink"]):
            time.sleep(0.5)
        drain_s = round(time.monotonic() - drained, 1)
        edge_view = server_side(pipeline.ops_urls["edge"])
    finally:
        pipeline.stop_all()
    rate = wrk_result["requests"] / wrk_result["seconds"]
    steady = [s for s in samples if s["t_s"] > args.ramp]
    worst = max(steady or samples, key=lambda s: s["worker_lag"])
    result = {
        "viewers": args.viewers,
        "seconds": args.seconds,
        "connections": args.connections,
        "edge_processes": args.edge_processes,
        "consumers_nice": args.consumers_nice,
        "cpu_percent_of_one_core_after_ramp": cpu_shares,
        "wrk": wrk_result,
        "req_per_s": round(rate),
        # What the viewers send once all are in (the ramp and late requests aside).
        "offered_req_per_s_after_ramp": round(args.viewers * requests_per_viewer_second(sessions)),
        "held": wrk_result["non2xx"] == 0
        and wrk_result["errors"] == 0
        and wrk_result["late_over_1s"] == 0,
        "edge_view": edge_view,
        # Over the whole run, ramp included, as the reference's (its ramp scaled alike).
        "edge_us_per_request": round(1e6 * edge_cpu_s / wrk_result["requests"], 1),
        "reference_hello_world": hello,
        "max_worker_lag_after_ramp": worst["worker_lag"],
        "max_worker_lag_s_of_traffic": round(worst["worker_lag"] / rate, 2),
        "max_sink_lag_after_ramp": max(s["sink_lag"] for s in steady or samples),
        "drain_s_after_load": drain_s,
        "rss_mb_first_last": {
            k: (samples[0][k], samples[-1][k]) for k in samples[0] if k.endswith("_mb")
        },
        "samples": samples,
    }
    name = Path(args.out).name if args.out else f"viewers_wrk_{args.viewers}.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
