"""The ``sessionflow`` command line: one subcommand per process, plus key management."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

import click

from sessionflow import garbage, logs
from sessionflow.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


@click.group()
@click.option("--log-level", default="INFO", show_default=True, envvar="SESSIONFLOW_LOG_LEVEL")
@click.pass_context
def main(ctx: click.Context, log_level: str) -> None:
    """sessionflow: media-player session telemetry, Adobe collection in, Braze series out.

    Configured through SESSIONFLOW_* environment variables (see the README).
    """
    logs.configure(ctx.invoked_subcommand or "sessionflow", log_level)
    ctx.obj = Settings.from_environ(os.environ)


def _serve(app: object, host: str, port: int, keep_alive_s: int, processes: int = 1) -> None:
    """Serve an ASGI app with uvicorn until SIGTERM/SIGINT: stop accepting, finish in-flight
    requests, run the app's shutdown (the edge flushes its producer), then exit 0.

    With ``processes`` > 1, ``app`` is the import string of a factory
    (``sessionflow_cli.apps``): uvicorn binds the port once and runs that many processes on
    it, and ``/metrics`` adds up theirs (prometheus-client's multiprocess mode, in a fresh
    folder under the state directory unless ``PROMETHEUS_MULTIPROC_DIR`` names one).
    """
    import signal

    import uvicorn

    # proxy_headers off: nothing in sessionflow reads the client's address, and uvicorn's
    # X-Forwarded-For middleware copied every request's headers into a dict to look for it
    # (~2 % of the edge's CPU per ping).
    options: dict[str, Any] = {
        "host": host, "port": port, "access_log": False, "log_level": "warning",
        "timeout_graceful_shutdown": 20, "timeout_keep_alive": keep_alive_s,
        "proxy_headers": False,
    }  # fmt: skip
    if processes > 1:
        if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
            import tempfile

            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-")
        uvicorn.run(app, factory=True, workers=processes, **options)  # type: ignore[arg-type]
        return
    # uvicorn re-raises the signal it stopped on once it is done; end with 0 instead.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: sys.exit(0))
    uvicorn.run(app, **options)  # type: ignore[arg-type]


PROCESSES_OPTION = click.option(
    "--processes", type=click.IntRange(1), default=1, show_default=True,
    help="processes serving the port (uvicorn workers)",
)  # fmt: skip


@main.command()
@PROCESSES_OPTION
@click.pass_context
def edge(ctx: click.Context, processes: int) -> None:
    """Run the collection API (Adobe Media Collection API, /api/v1)."""
    from sessionflow.kafka import ensure_sessionflow_topics

    settings = _settings(ctx)
    asyncio.run(ensure_sessionflow_topics(settings))
    if processes > 1:
        _serve(
            "sessionflow_cli.apps:edge_app", settings.edge_host, settings.edge_port,
            settings.http_keep_alive_s, processes,
        )  # fmt: skip
        return
    from sessionflow_cli.apps import edge_app

    _serve(edge_app(settings), settings.edge_host, settings.edge_port, settings.http_keep_alive_s)


@main.command()
@PROCESSES_OPTION
@click.pass_context
def api(ctx: click.Context, processes: int) -> None:
    """Run the read API (GET /sessions/data_series and its siblings, /dashboard)."""
    settings = _settings(ctx)
    if processes > 1:
        _serve(
            "sessionflow_cli.apps:api_app", settings.api_host, settings.api_port,
            settings.http_keep_alive_s, processes,
        )  # fmt: skip
        return
    from sessionflow_cli.apps import api_app

    _serve(api_app(settings), settings.api_host, settings.api_port, settings.http_keep_alive_s)


@main.command()
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run the Faust worker that keeps the windowed session counts."""
    import faust
    import uvloop

    from sessionflow.kafka import cluster_id, ensure_sessionflow_topics
    from streams.app import create_app

    settings = _settings(ctx)
    asyncio.run(ensure_sessionflow_topics(settings))
    cluster = asyncio.run(cluster_id(settings))
    # uvloop (what uvicorn runs the edge and the API on) under Faust too: its loop is created
    # by faust.Worker from this policy. Faust supports it (faust-streaming[uvloop]).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    app = create_app(settings, cluster)
    garbage.tune(settings.gc_threshold)
    faust.Worker(
        app, loglevel=logging.getLevelName(logging.root.level), quiet=True, override_logging=False
    ).execute_from_commandline()


@main.command()
@click.pass_context
def sink(ctx: click.Context) -> None:
    """Run the ClickHouse sink (sessions, events, counts)."""
    from sinks.runner import run_sink

    run_sink(_settings(ctx))


@main.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Run sink, worker, edge and API together, supervised, in this terminal."""
    from sessionflow_cli.supervisor import ops_urls, supervise

    sys.exit(supervise(env=dict(os.environ), urls=ops_urls(_settings(ctx))))


@main.command("reconcile")
@click.option("--from", "from_", required=True, help="start, ISO-8601 (UTC if no offset)")
@click.option("--to", "to", default=None, help="end, ISO-8601; default: the last closed window")
@click.option("--force", is_flag=True, help="also rewrite windows the worker may still change")
@click.pass_context
def reconcile_cmd(ctx: click.Context, from_: str, to: str | None, force: bool) -> None:
    """Recompute session counts for a time range from the raw sessions (idempotent)."""
    import time

    from tqdm import tqdm

    from readapi.params import parse_ending_at
    from readapi.segments import SegmentStore
    from sessionflow.clickhouse import ClickHouse
    from sessionflow.reconcile import OPEN_WINDOW_MS, reconcile
    from sessionflow.tables import ensure_tables
    from sessionflow.timebuckets import to_ms

    settings = _settings(ctx)
    try:
        from_ms = to_ms(parse_ending_at(from_))
        if len(from_.strip()) == 10:  # a bare date: from its start
            from_ms -= 86_400_000 - 1
        closed_ms = int(time.time() * 1000) - OPEN_WINDOW_MS
        to_ms_ = to_ms(parse_ending_at(to)) if to else closed_ms
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if not force and to_ms_ > closed_ms:
        click.echo("windows of the last 25 hours are left to the worker (use --force)", err=True)
        to_ms_ = closed_ms
    if to_ms_ <= from_ms:
        raise click.ClickException("empty range")
    clickhouse = ClickHouse(settings, pool_size=1)
    clickhouse.wait_ready(wait_s=30)
    ensure_tables(clickhouse)
    segments = [s for s in SegmentStore(clickhouse).all()]
    days = reconcile(
        clickhouse, from_ms, to_ms_,
        lambda it, total: tqdm(it, total=total, unit="day", desc="reconcile"),
        segments,
    )  # fmt: skip
    click.echo(f"reconciled {days} day(s), all sessions and {len(segments)} segment(s)")


@main.command("backfill")
@click.option("--org", required=True, help="organisation of the segment")
@click.option("--segment", "segment_id", required=True, help="segment id")
@click.pass_context
def backfill_cmd(ctx: click.Context, org: str, segment_id: str) -> None:
    """Count a segment's sessions before its markers again from ClickHouse (idempotent: the
    rows it writes replace the same rows), e.g. after restoring the sessions table."""
    from tqdm import tqdm

    from readapi.segments import SegmentStore
    from sessionflow.backfill import backfill
    from sessionflow.clickhouse import ClickHouse
    from sessionflow.timebuckets import STORED_UNITS

    clickhouse = ClickHouse(_settings(ctx), pool_size=1)
    clickhouse.wait_ready(wait_s=30)
    segment = SegmentStore(clickhouse).get(org, segment_id)
    if segment is None:
        raise click.ClickException(f"no segment {segment_id} in org {org}")
    if not segment.markers:
        raise click.ClickException(f"segment {segment_id} has no markers yet")
    for unit in tqdm(STORED_UNITS, unit="unit", desc=f"backfill {segment.key}"):
        backfill(clickhouse, segment, units=(unit,))
    click.echo(f"backfilled {segment.key} ({segment.status})")


@main.command()
@click.option("--edge", "edge_url", default=None, help="edge base URL; default: this config's")
@click.option("--players", type=click.IntRange(1), default=100, show_default=True,
              help="concurrent simulated viewers")  # fmt: skip
@click.option("--seconds", type=click.FloatRange(1), default=60, show_default=True)
@click.option(
    "--compress", type=click.FloatRange(1), default=1.0, show_default=True,
    help="time compression: 1 = real time (10 s pings), 60 = 10 minutes in 10 s",
)  # fmt: skip
@click.option(
    "--start-only", is_flag=True, help="sessionStarts only, back to back (a live event starting)"
)
@click.option("--ramp", "ramp_seconds", type=click.FloatRange(0), default=0.0,
              help="spread the viewers' first sessions over this many seconds")  # fmt: skip
@click.option("--org", "org_id", default="LOADGEN@AdobeOrg", show_default=True)
@click.option("--apps", type=click.IntRange(1), default=4, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="also write the summary to this file")  # fmt: skip
@click.pass_context
def loadgen(
    ctx: click.Context, edge_url: str | None, players: int, seconds: float, compress: float,
    start_only: bool, ramp_seconds: float, org_id: str, apps: int, seed: int,
    json_path: str | None,
) -> None:  # fmt: skip
    """Simulated players against an edge, as real ones behave; prints a summary (JSON)."""
    import json

    from sessionflow_cli.loadgen import LoadPlan, run_load

    settings = _settings(ctx)
    plan = LoadPlan(
        edge_url=edge_url or f"http://{settings.edge_host}:{settings.edge_port}",
        players=players, seconds=seconds, compress=compress, org_id=org_id, apps=apps,
        start_only=start_only, ramp_seconds=ramp_seconds, seed=seed,
    )  # fmt: skip
    report = asyncio.run(run_load(plan, progress=sys.stderr.isatty()))
    summary = json.dumps(report.summary(), indent=2)
    if json_path:
        with open(json_path, "w") as out:
            out.write(summary + "\n")
    click.echo(summary)


@main.command()
@click.option("--cluster", default=None, help="a ClickHouse cluster name (remote_servers)")
@click.pass_context
def ddl(ctx: click.Context, cluster: str | None) -> None:
    """Print the ClickHouse DDL: single server (what the processes create themselves), or for
    a cluster (Replicated tables per shard behind Distributed tables), to run before starting."""
    from sessionflow.clusterddl import cluster_statements
    from sessionflow.tables import statements

    database = _settings(ctx).clickhouse_database
    try:
        found = cluster_statements(database, cluster) if cluster else statements(database)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(";\n\n".join(found) + ";")


@main.group()
def keys() -> None:
    """Create, list and revoke read API keys."""


def _key_store(settings: Settings) -> object:
    from readapi.keys import KeyStore
    from sessionflow.clickhouse import ClickHouse
    from sessionflow.tables import ensure_tables

    clickhouse = ClickHouse(settings, pool_size=1)
    clickhouse.wait_ready(wait_s=30)
    ensure_tables(clickhouse)
    return KeyStore(clickhouse, 0, settings.rate_limit_per_hour)


@keys.command("create")
@click.option("--org", required=True, help="organisation (visitor.marketingCloudOrgId)")
@click.option("--app", "apps", multiple=True, help="app (report suite) the key may read; repeat")
@click.option("--permission", "permissions", multiple=True, help="permission; repeat")
@click.option("--rate-limit", type=int, default=None, help="requests per hour")
@click.pass_context
def keys_create(
    ctx: click.Context, org: str, apps: tuple[str, ...], permissions: tuple[str, ...],
    rate_limit: int | None,
) -> None:  # fmt: skip
    """Create a key; print it once, as the last line."""
    from readapi.keys import PERMISSIONS, KeyStore

    store = _key_store(_settings(ctx))
    assert isinstance(store, KeyStore)
    try:
        key, record = store.create(org, apps, permissions, rate_limit)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (known: {', '.join(PERMISSIONS)})") from exc
    click.echo(
        f"key id {record.key_id} for org {record.org_id}; apps: "
        f"{', '.join(record.apps) or 'all'}; permissions: "
        f"{', '.join(sorted(record.permissions))}",
        err=True,
    )
    click.echo(key)


@keys.command("list")
@click.option("--org", default=None)
@click.pass_context
def keys_list(ctx: click.Context, org: str | None) -> None:
    """List keys (ids, never the keys themselves)."""
    from readapi.keys import KeyStore

    store = _key_store(_settings(ctx))
    assert isinstance(store, KeyStore)
    for key in store.list(org):
        state = "revoked" if key.revoked else "active"
        click.echo(
            f"{key.key_id}\t{key.org_id}\t{','.join(key.apps) or '*'}\t"
            f"{','.join(sorted(key.permissions))}\t{state}"
        )


@keys.command("revoke")
@click.argument("key_id")
@click.pass_context
def keys_revoke(ctx: click.Context, key_id: str) -> None:
    """Revoke the key with id KEY_ID (takes effect within seconds)."""
    from readapi.keys import KeyStore

    store = _key_store(_settings(ctx))
    assert isinstance(store, KeyStore)
    if not store.revoke(key_id):
        raise click.ClickException(f"no key with id {key_id}")
    click.echo(f"revoked {key_id}")
