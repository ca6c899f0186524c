"""``sessionflow loadgen``: simulated players against an edge, as real ones behave.

Each of ``players`` concurrent viewers plays realistic sessions back to back
(``sessionflow.players``: the burst of queued events after the 201, 10 s pings also while
paused, buffering, a seek, an ad pod with 1 s pings, completion), in real time or compressed;
``--start-only`` posts sessionStarts as fast as they are answered instead (a live event
beginning). A progress bar shows the rate while it runs; the summary gives rates, latency
percentiles by request kind, and status counts.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from tqdm import tqdm

from sessionflow import players


@dataclass(frozen=True)
class LoadPlan:
    """What to send."""

    edge_url: str
    players: int
    seconds: float
    compress: float = 1.0
    org_id: str = "LOADGEN@AdobeOrg"
    apps: int = 4
    start_only: bool = False
    ramp_seconds: float = 0.0
    seed: int = 1


@dataclass
class LoadReport:
    """What happened."""

    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {"start": [], "event": []})
    sessions: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    # How late each event went out against its player's timeline: a viewer waits for each
    # answer, so a saturated pipeline shows here first (a player that falls behind is one the
    # pipeline does not hold).
    behind_ms: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def summary(self) -> dict[str, Any]:
        def percentiles(values: list[float]) -> dict[str, float]:
            if not values:
                return {}
            ordered = sorted(values)
            cuts = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
            return {
                "p50": round(cuts[49], 1), "p90": round(cuts[89], 1), "p99": round(cuts[98], 1),
                "max": round(ordered[-1], 1),
            }  # fmt: skip

        return {
            "seconds": round(self.seconds, 1),
            "requests": self.requests,
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "sessions_started": self.sessions,
            "statuses": dict(sorted(self.statuses.items())),
            "connection_errors": dict(self.errors),
            "latency_ms": {kind: percentiles(v) for kind, v in self.latencies_ms.items() if v},
            "behind_schedule_ms": percentiles(self.behind_ms),
        }


@dataclass(frozen=True)
class _Answer:
    status: int
    location: str | None


async def _send(
    client: aiohttp.ClientSession, url: str, body: dict[str, Any], kind: str, report: LoadReport
) -> _Answer | None:
    started = time.perf_counter()
    try:
        async with client.post(
            url, data=orjson.dumps(body), headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
            answer = _Answer(response.status, response.headers.get("Location"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        report.errors[type(exc).__name__] += 1
        return None
    report.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
    report.statuses[str(answer.status)] += 1
    return answer


async def _viewer(
    number: int, plan: LoadPlan, client: aiohttp.ClientSession, report: LoadReport, until: float
) -> None:
    rng = random.Random(plan.seed * 1_000_003 + number)
    await asyncio.sleep(rng.uniform(0, plan.ramp_seconds) if plan.ramp_seconds else 0)
    app = f"loadgen-app-{number % plan.apps}"
    # One viewer, one visitor id: the DAU series counts them.
    start_body = players.session_start(plan.org_id, app, 0)
    start_body["params"]["visitor.marketingCloudUserId"] = f"loadgen-viewer-{number}"
    while time.monotonic() < until:
        start_ms = int(time.time() * 1000)
        body = {**start_body, "playerTime": {"playhead": 0, "ts": start_ms}}
        created = await _send(client, plan.edge_url + "/api/v1/sessions", body, "start", report)
        if created is None or created.status != 201 or created.location is None:
            await asyncio.sleep(0.5)  # a real player backs off before it retries
            continue
        report.sessions += 1
        if plan.start_only:
            continue
        events = plan.edge_url + created.location + "/events"
        steps = players.compress(players.realistic_session(start_ms, rng=rng), plan.compress)
        began = time.monotonic()
        for step in steps:
            delay = began + step.at_ms / 1000 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            late_s = time.monotonic() - (began + step.at_ms / 1000)
            report.behind_ms.append(max(0.0, late_s) * 1000)
            if time.monotonic() >= until:
                return
            await _send(client, events, step.body, "event", report)


async def run_load(plan: LoadPlan, progress: bool = True) -> LoadReport:
    """Run ``plan`` and return what happened."""
    report = LoadReport()
    # One connection per viewer at most, as real viewers each have their own: a shared pool
    # smaller than the audience queued requests behind any slow answer (measured at 5,000
    # viewers with 1,024 connections: the edge answered p99 <= 1 s, the viewers saw 17.9 s).
    connector = aiohttp.TCPConnector(limit=plan.players)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        started = time.monotonic()
        until = started + plan.seconds
        viewers = [
            asyncio.create_task(_viewer(n, plan, client, report, until))
            for n in range(plan.players)
        ]
        with tqdm(
            total=round(plan.seconds), unit="s", disable=not progress, dynamic_ncols=True
        ) as bar:
            while not all(v.done() for v in viewers):
                await asyncio.sleep(1)
                elapsed = time.monotonic() - started
                bar.n = min(round(elapsed), round(plan.seconds))
                bar.set_postfix(
                    req_s=round(report.requests / elapsed),
                    sessions=report.sessions,
                    non_2xx=sum(n for s, n in report.statuses.items() if not s.startswith("2")),
                    errors=sum(report.errors.values()),
                )
        await asyncio.gather(*viewers)
        report.seconds = time.monotonic() - started
    return report
