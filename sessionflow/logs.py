"""Logging: one line per event. JSON (python-json-logger) when stderr is not a terminal, so log
collectors get fields; readable text on a terminal. A line carries the process name and, where
one applies, the session id or the Kafka ``partition``/``offset`` (``extra=`` of the call).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from pythonjsonlogger.json import JsonFormatter

NOISY = ("aiokafka", "kafka", "faust", "mode", "uvicorn.error", "httpx", "httpcore")


class _ProcessName(logging.Filter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_name = self.process
        return True


def configure(process: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Log to ``stream`` (stderr) at ``level``, as JSON unless it is a terminal."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.addFilter(_ProcessName(process))
    if stream.isatty():
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(process_name)s[%(process)d] %(levelname)s %(name)s: %(message)s"
            )
        )
    else:
        handler.setFormatter(
            JsonFormatter(
                "{levelname}{process_name}{process}{name}{message}",
                style="{",
                rename_fields={
                    "levelname": "level",
                    "process_name": "proc",
                    "process": "pid",
                    "name": "logger",
                },
                timestamp="time",  # ISO 8601, UTC
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
