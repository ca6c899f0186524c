"""What Faust itself costs the worker per record: the worker's own Faust settings
(``streams.app.STREAM_OPTIONS``, its consumer and the raw source schema) with a handler that
only counts the records it is handed, on the same realistic backlog ``bench/worker.py`` uses.
``--path direct`` (the default) hands them over as the worker gets them (``streams.delivery``'s
``handle_directly``); ``--path agent`` through Faust's conductor, a stream and an agent, as the
worker did before.

Also reports where the time goes between the two threads of Faust's consumer: how long the
fetch loop waited for records (``_wait_next_records``) and how long each fetch request to the
broker took (measured around aiokafka's ``Fetcher._proc_fetch_request``), split by whether the
request held a partition of the source topic or only Faust's own leader topic (disabled in the
worker now: it has no data, so the broker held a request for it alone Faust's fixed
``fetch_max_wait_ms``, 1.5 s).

Needs scripts/services up. Run:
    .venv/bin/python bench/faust_floor.py [--records 300000] [--path direct|agent]
        [--out faust_floor.json]
Writes bench/results/<out>.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sessionflow.kafka import ensure_sessionflow_topics  # noqa: E402
from sessionflow.topics import Topics  # noqa: E402
from tests.backlog import write_backlog  # noqa: E402
from tests.services import unique_settings  # noqa: E402

HERE = ROOT / "bench"


def instrument(stats: Counter[str]) -> None:
    """Time Faust's wait for records and every fetch request, into ``stats``."""
    from aiokafka.consumer import fetcher
    from faust.transport import consumer

    wait_next = consumer.Consumer._wait_next_records
    fetch = fetcher.Fetcher._proc_fetch_request

    async def timed_wait(self: Any, timeout: float) -> Any:  # noqa: ASYNC109 (Faust's)
        began = time.perf_counter()
        try:
            return await wait_next(self, timeout)
        finally:
            stats["waited_for_records_s"] += time.perf_counter() - began

    async def timed_fetch(self: Any, assignment: Any, node_id: Any, request: Any) -> Any:
        began = time.perf_counter()
        try:
            return await fetch(self, assignment, node_id, request)
        finally:
            kind = "leader_only" if all("leader" in t[0] for t in request.topics) else "data"
            stats[f"fetch_{kind}_s"] += time.perf_counter() - began
            stats[f"fetch_{kind}"] += 1

    consumer.Consumer._wait_next_records = timed_wait  # type: ignore[method-assign]
    fetcher.Fetcher._proc_fetch_request = timed_fetch  # type: ignore[method-assign]


def consume(topic: str, partitions: int, records: int, path: str) -> None:
    """The child process: a Faust app with the worker's settings that only counts records,
    handed to it as the worker gets them (``path="direct"``: ``streams.delivery``'s handler)
    or through Faust's conductor, stream and an agent (``path="agent"``)."""
    import faust

    from streams.app import STREAM_OPTIONS
    from streams.delivery import InlineDeliveryConsumer, RawSchema, handle_directly

    stats: Counter[str] = Counter()
    instrument(stats)
    app = faust.App(
        f"faust-floor-{uuid.uuid4().hex[:8]}",
        broker="kafka://127.0.0.1:9092",
        store="memory://",
        datadir=f"/tmp/faust-floor-{os.getpid()}",
        topic_partitions=partitions,
        **STREAM_OPTIONS,
    )
    app.transport.Consumer = InlineDeliveryConsumer  # type: ignore[misc]
    source = app.topic(topic, schema=RawSchema(), partitions=partitions)
    seen, began = 0, 0.0

    def counted() -> None:
        nonlocal seen, began
        if not seen:
            began = time.monotonic()
        seen += 1
        if seen < records:
            return
        seconds = time.monotonic() - began
        result: dict[str, Any] = {"path": path, "records": seen, "seconds": round(seconds, 2)}
        result["records_per_s"] = round(seen / seconds)
        result.update({k: round(v, 2) for k, v in stats.items()})
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        sys.stdout.flush()
        os._exit(0)

    if path == "direct":

        async def handle(message: Any) -> None:
            counted()

        app.topics.add(source)
        handle_directly(app, topic, handle)
    else:

        @app.agent(source)  # type: ignore[untyped-decorator]
        async def count(stream: Any) -> None:
            async for _event in stream.events():
                counted()

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--out", default="faust_floor.json")
    parser.add_argument("--path", choices=("direct", "agent"), default="direct")
    parser.add_argument("--consume", help=argparse.SUPPRESS)  # the child process's topic
    parser.add_argument("--partitions", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consume:
        consume(args.consume, args.partitions, args.records, args.path)
        return
    settings = unique_settings()
    asyncio.run(ensure_sessionflow_topics(settings))
    sessions = args.records // 60
    asyncio.run(write_backlog(settings, "BENCH", ("a", "b"), sessions, 59))
    child = subprocess.run(
        [sys.executable, __file__, "--consume", Topics(settings.topic_prefix).media_events,
         "--partitions", str(settings.topic_partitions), "--records", str(sessions * 60),
         "--path", args.path],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    # Faust's worker sends stdout to its log: the line may carry a log prefix.
    found = re.search(r"RESULT (\{.*\})", child.stdout + child.stderr)
    if found is None:
        sys.exit(f"the Faust app gave no result:\n{child.stdout[-2000:]}\n{child.stderr[-2000:]}")
    result = json.loads(found.group(1))
    (HERE / "results" / args.out).write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
