"""``sessionflow up``: run the four processes side by side, watch them through their ``/health``
and ``/ready`` endpoints, restart any that dies or stops answering, and stop them all (SIGTERM,
then SIGKILL after a grace period) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

import httpx

from sessionflow.settings import Settings

logger = logging.getLogger(__name__)

PROCESSES: tuple[str, ...] = ("sink", "worker", "edge", "api")
GRACE_SECONDS = 30.0
PROBE_EVERY_S = 2.0
# A process that has not answered /health for this long (it may be wedged, not dead) is
# killed and restarted; generous, because a worker recovering a large changelog is busy.
UNHEALTHY_AFTER_S = 60.0


def ops_urls(settings: Settings) -> dict[str, str]:
    """Where each process serves /health, /ready and /metrics."""
    return {
        "edge": f"http://{settings.edge_host}:{settings.edge_port}",
        "api": f"http://{settings.api_host}:{settings.api_port}",
        "worker": f"http://{settings.ops_host}:{settings.worker_ops_port}",
        "sink": f"http://{settings.ops_host}:{settings.sink_ops_port}",
    }


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)
    last_healthy: float | None = None
    ready: bool = False


def _get(client: httpx.Client, url: str) -> httpx.Response | None:
    try:
        return client.get(url)
    except httpx.HTTPError:
        return None


def supervise(
    names: Sequence[str] = PROCESSES,
    env: Mapping[str, str] | None = None,
    urls: Mapping[str, str] | None = None,
) -> int:
    """Run ``sessionflow NAME`` for each name until asked to stop; return an exit code."""
    stopping = False

    def ask_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGTERM, ask_stop)

    def spawn(name: str) -> Child:
        logger.info("starting %s", name)
        command = [sys.executable, "-m", "sessionflow_cli", name]
        return Child(name, subprocess.Popen(command, env=env))

    children = {name: spawn(name) for name in names}
    backoff = dict.fromkeys(names, 1.0)
    all_ready = False
    next_probe = time.monotonic()
    with httpx.Client(timeout=2.0) as client:
        while not stopping:
            time.sleep(0.5)
            for name, child in list(children.items()):
                code = child.process.poll()
                if code is not None and not stopping:
                    logger.warning(
                        "%s exited with %s; restarting in %.0fs", name, code, backoff[name]
                    )
                    time.sleep(backoff[name])
                    backoff[name] = min(backoff[name] * 2, 30.0)
                    children[name] = spawn(name)
                    all_ready = False
            if urls is None or time.monotonic() < next_probe or stopping:
                continue
            next_probe = time.monotonic() + PROBE_EVERY_S
            all_ready = _probe(client, children, urls, all_ready)
    return _stop_all(children)


def _probe(
    client: httpx.Client, children: dict[str, Child], urls: Mapping[str, str], all_ready: bool
) -> bool:
    """Check /health and /ready of each child; kill one that stopped answering."""
    now = time.monotonic()
    for name, child in children.items():
        base = urls.get(name)
        if base is None:
            continue
        health = _get(client, base + "/health")
        if health is not None and health.status_code == 200:
            child.last_healthy = now
        elif now - (child.last_healthy or child.started) > UNHEALTHY_AFTER_S:
            logger.warning("%s has not answered /health for %.0f s; killing it", name,
                           now - (child.last_healthy or child.started))  # fmt: skip
            child.process.kill()
            continue
        ready = _get(client, base + "/ready")
        is_ready = ready is not None and ready.status_code == 200
        if child.ready and not is_ready:
            detail = ready.text if ready is not None else "no answer"
            logger.warning("%s is not ready: %s", name, detail)
        child.ready = is_ready
    now_ready = all(child.ready for name, child in children.items() if name in urls)
    if now_ready and not all_ready:
        logger.info(
            "all processes ready: %s", ", ".join(f"{n} {urls[n]}" for n in children if n in urls)
        )
    return now_ready


def _stop_all(children: dict[str, Child]) -> int:
    logger.info("stopping %s", ", ".join(children))
    for child in children.values():
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, child in children.items():
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time; killing it", name)
            child.process.kill()
            child.process.wait()
    return 0
