"""``sessionflow up``: run the four processes side by side, restart any that dies, and stop them
all (SIGTERM, then SIGKILL after a grace period) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from types import FrameType

logger = logging.getLogger(__name__)

PROCESSES: tuple[str, ...] = ("sink", "worker", "edge", "api")
GRACE_SECONDS = 30.0


def supervise(names: Sequence[str] = PROCESSES, env: Mapping[str, str] | None = None) -> int:
    """Run ``sessionflow NAME`` for each name until asked to stop; return an exit code."""
    stopping = False

    def ask_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGTERM, ask_stop)

    def spawn(name: str) -> subprocess.Popen[bytes]:
        logger.info("starting %s", name)
        return subprocess.Popen([sys.executable, "-m", "sessionflow_cli", name], env=env)

    children = {name: spawn(name) for name in names}
    backoff = dict.fromkeys(names, 1.0)
    while not stopping:
        time.sleep(0.5)
        for name, child in list(children.items()):
            code = child.poll()
            if code is not None and not stopping:
                logger.warning("%s exited with %s; restarting in %.0fs", name, code, backoff[name])
                time.sleep(backoff[name])
                backoff[name] = min(backoff[name] * 2, 30.0)
                children[name] = spawn(name)
    logger.info("stopping %s", ", ".join(children))
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop in time; killing it", name)
            child.kill()
            child.wait()
    return 0
