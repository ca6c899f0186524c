"""Runs sessionflow's four processes (sink, worker, edge, API) as real subprocesses on the real
Kafka and ClickHouse, each test run on its own topics, database and ports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sessionflow.settings import Settings
from sessionflow_cli.supervisor import ops_urls
from tests.services import free_port

PROCESSES = ("sink", "worker", "edge", "api")


@dataclass
class Pipeline:
    settings: Settings
    env: dict[str, str]
    logs: Path
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    commands: dict[str, tuple[tuple[str, ...], dict[str, str]]] = field(default_factory=dict)

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.edge_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.api_port}"

    @property
    def ops_urls(self) -> dict[str, str]:
        """Where each process serves /health, /ready and /metrics."""
        return ops_urls(self.settings)

    def start(
        self, name: str, args: Sequence[str] = (), env: Mapping[str, str] | None = None
    ) -> None:
        """Start ``sessionflow ARGS`` (default: ``sessionflow NAME``) as ``name``; ``env``
        adds to the pipeline's environment. The same command and env on a restart."""
        if args or env:
            self.commands[name] = (tuple(args) or (name,), dict(env or {}))
        command, extra = self.commands.get(name, ((name,), {}))
        with (self.logs / f"{name}.log").open("ab") as log:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "sessionflow_cli", *command],
                env={**self.env, **extra},
                stdout=log,
                stderr=log,
            )

    def start_another(self, name: str, command: str) -> str:
        """Start one more worker or sink (``command``) as ``name``, on an ops port of its own
        (its group shares the partitions); returns where it serves /ready and /metrics."""
        port = free_port()
        self.start(name, [command], {f"SESSIONFLOW_{command.upper()}_OPS_PORT": str(port)})
        return f"http://127.0.0.1:{port}"

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        child = self.children.pop(name)
        child.send_signal(sig)
        try:
            return child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()

    def stop_all(self) -> None:
        for name in list(self.children):
            self.stop(name)

    def revive(self) -> list[str]:
        """Restart any process that exited (what ``sessionflow up`` does); return their names."""
        dead = [name for name, child in self.children.items() if child.poll() is not None]
        for name in dead:
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self.start(name)
        return dead

    def kill(self, name: str) -> None:
        """SIGKILL one process and start it again, as a crash and a supervisor would."""
        self.stop(name, signal.SIGKILL)
        self.start(name)

    def wait_http(self, url: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} did not answer within {timeout}s; logs in {self.logs}")

    def check_alive(self) -> None:
        for name, child in self.children.items():
            if child.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text()[-3000:]
                raise RuntimeError(f"{name} exited with {child.returncode}:\n{tail}")

    def create_key(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "sessionflow_cli", "keys", "create", *args],
            env=self.env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[-1]


def settings_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in base.items() if not k.startswith("SESSIONFLOW_")}
    for name, value in settings.model_dump().items():
        text = ",".join(value) if isinstance(value, tuple) else str(value)
        env[f"SESSIONFLOW_{name.upper()}"] = text
    return env


def launch(settings: Settings, logs: Path) -> Pipeline:
    ports = {
        name: free_port() for name in ("edge_port", "api_port", "worker_ops_port", "sink_ops_port")
    }
    settings = settings.model_copy(update=ports)
    pipeline = Pipeline(settings, settings_env(settings, os.environ), logs)
    for name in PROCESSES:
        pipeline.start(name)
    for url in pipeline.ops_urls.values():
        pipeline.wait_http(url + "/ready")
    return pipeline


ROOT = Path(__file__).resolve().parents[2]


def services(command: str, which: str) -> None:
    """``scripts/services COMMAND WHICH``: stop or start one of the real servers."""
    subprocess.run([str(ROOT / "scripts" / "services"), command, which], check=True)
