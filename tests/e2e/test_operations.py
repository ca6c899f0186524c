"""What an operator sees (SPEC §7, §3 dashboard): ``sessionflow loadgen`` drives simulated
players through the four processes; every process answers /health, /ready and /metrics with
figures that match what was sent; the dashboard, opened in a real headless Chromium, shows the
read API's numbers with a clean console (its screenshot is the README's); /ready names the
dependency that is down.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from sessionflow.clickhouse import ClickHouse
from tests.e2e.browser import chromium
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, poll_total
from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "dashboard.png"


def scrape(base_url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``/metrics`` of one process: samples by name."""
    response = httpx.get(base_url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[sample.name].append((sample.labels, sample.value))
    return found


def total(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(k) == v for k, v in labels.items())
    )


def run_loadgen(pipeline: Pipeline, tmp_path: Path) -> dict:
    out = tmp_path / "load.json"
    subprocess.run(
        [sys.executable, "-m", "sessionflow_cli", "loadgen", "--edge", pipeline.edge_url,
         "--players", "12", "--seconds", "8", "--compress", "60", "--ramp", "2",
         "--org", ORG, "--apps", "2", "--json", str(out)],
        env=pipeline.env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.read_text())


def check_concurrent_viewers(pipeline: Pipeline, key: str) -> None:
    """Minute and hour series of concurrent viewers equal a brute-force count of the stored
    events (distinct sessions per minute of edge time; an hour is its busiest minute)."""
    auth = {"Authorization": f"Bearer {key}"}
    url = pipeline.api_url + "/kpi/concurrent/data_series"
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    try:
        deadline = time.monotonic() + 30
        while True:
            minutes = httpx.get(url, params={"unit": "minute", "length": 30}, headers=auth)
            assert minutes.status_code == 200, minutes.text
            brute = dict(
                clickhouse.execute(
                    "SELECT toUInt32(toStartOfMinute(event_time)) AS m, uniqExact(session_id) "
                    f"FROM {clickhouse.database}.events WHERE org_id = %(org)s GROUP BY m",
                    {"org": ORG},
                )
            )
            got = {
                int(datetime.fromisoformat(item["time"]).timestamp()): item["viewers"]
                for item in minutes.json()["data"]
            }
            want = {minute: brute.get(minute, 0) for minute in got}
            if got == want or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        clickhouse.close()
    assert got == want and max(got.values()) >= 12
    hours = httpx.get(url, params={"unit": "hour", "length": 2}, headers=auth).json()["data"]
    for item in hours:
        start = int(datetime.fromisoformat(item["time"]).timestamp())
        assert item["viewers"] == max(
            (n for minute, n in brute.items() if start <= minute < start + 3600), default=0
        )
    assert httpx.get(url, params={"unit": "day", "length": 1}, headers=auth).status_code == 400


def test_metrics_readiness_and_dashboard_under_simulated_players(
    pipeline: Pipeline, tmp_path: Path
):
    summary = run_loadgen(pipeline, tmp_path)
    started = summary["sessions_started"]
    assert started >= 12 and set(summary["statuses"]) <= {"201", "204"}, summary
    assert summary["statuses"]["204"] > 10 * started and not summary["connection_errors"]
    assert {"p50", "p99"} <= set(summary["latency_ms"]["event"])

    key = pipeline.create_key("--org", ORG)
    series = pipeline.api_url + "/sessions/data_series"
    params = {"unit": "hour", "length": 2}
    assert poll_total(series, key, params, "sessions", started) == started

    urls = pipeline.ops_urls
    for name, url in urls.items():
        assert httpx.get(url + "/health").json() == {"status": "ok"}, name
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 200 and ready.json()["status"] == "ready", (name, ready.text)

    deadline = time.monotonic() + 30
    while True:  # the sink and the worker report what they did within a second or two
        edge, worker, sink = (scrape(urls[n]) for n in ("edge", "worker", "sink"))
        counted = total(worker, "sessionflow_records_counted_total")
        stored = total(sink, "sessionflow_clickhouse_rows_total", table="sessions")
        if (counted, stored) == (started, started) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    created = total(edge, "sessionflow_http_requests_total", route="/api/v1/sessions", status="201")
    events = total(
        edge, "sessionflow_http_requests_total", route="/api/v1/sessions/{sid}/events",
        status="204",
    )  # fmt: skip
    assert (created, events) == (started, summary["statuses"]["204"])
    assert total(edge, "sessionflow_kafka_produce_duration_seconds_count") == created + events
    assert (counted, stored) == (started, started)
    skipped = total(worker, "sessionflow_records_skipped_total")
    assert total(worker, "sessionflow_records_consumed_total") == started + events
    assert skipped == events
    assert total(sink, "sessionflow_clickhouse_insert_duration_seconds_count", table="sessions")
    for samples in (worker, sink):
        lags = samples["sessionflow_consumer_lag"]
        assert lags and all(value >= 0 for _, value in lags)
    for samples in (edge, worker, sink, scrape(urls["api"])):  # every process tunes its GC
        assert total(samples, "sessionflow_gc_pause_seconds_count", generation="2") >= 1

    check_concurrent_viewers(pipeline, key)

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on(
            "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
        )
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.goto(f"{pipeline.api_url}/dashboard#key={key}")
        page.wait_for_selector("body[data-state=ready]", timeout=30_000)
        assert "key=" not in page.url  # the key does not stay in the address bar
        shown = page.evaluate("window.dashboardData")
        query = page.evaluate("window.dashboardQuery")
        # The concurrent viewers' last minute is the one in progress ("now"), not one to come.
        ends = datetime.fromisoformat(query["concurrent"]["ending_at"].replace("Z", "+00:00"))
        assert abs(ends - datetime.now(UTC)) < timedelta(minutes=2)
        auth = {"Authorization": f"Bearer {key}"}
        for path, kind in (
            ("/sessions/data_series", "sessions"),
            ("/kpi/dau/data_series", "dau"),
            ("/kpi/concurrent/data_series", "concurrent"),
        ):
            answer = httpx.get(pipeline.api_url + path, params=query[kind], headers=auth).json()
            assert shown[kind] == answer["data"], kind
        pings = httpx.get(
            pipeline.api_url + "/events/data_series",
            params={**query["events"], "event": "ping"}, headers=auth,
        ).json()["data"]  # fmt: skip
        assert shown["events"]["ping"] == pings
        for metric in ("startup_time_ms", "completion_rate"):
            qoe = httpx.get(
                pipeline.api_url + "/kpi/qoe/data_series",
                params={**query["qoe"], "metric": metric}, headers=auth,
            ).json()["data"]  # fmt: skip
            assert shown["qoe"][metric] == qoe, metric
        assert sum(item["sessions"] for item in shown["sessions"]) == started
        drawn = page.evaluate("Chart.getChart('sessions').data.datasets[0].data")
        assert drawn == [item["sessions"] for item in shown["sessions"]]
        assert page.evaluate("Chart.getChart('events').data.datasets.length") == 6
        assert str(started) in page.inner_text("#sessions-total")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # Without a key in the URL the page asks once per tab, then remembers it.
        asked: list[str] = []
        second = browser.new_page()
        second.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept(key)))
        second.goto(f"{pipeline.api_url}/dashboard")
        second.wait_for_selector("body[data-state=ready]", timeout=30_000)
        second.reload()
        second.wait_for_selector("body[data-state=ready]", timeout=30_000)
        assert len(asked) == 1
        assert problems == []

    api = scrape(urls["api"])
    assert total(api, "sessionflow_http_requests_total", route="/sessions/data_series",
                 status="200") >= 3  # fmt: skip
    pipeline.check_alive()


def test_ready_names_the_dependency_that_is_down(pipeline: Pipeline, tmp_path: Path):
    ops_port = free_port()
    env = {
        **pipeline.env,
        "SESSIONFLOW_CLICKHOUSE_PORT": str(free_port()),  # nothing listens there
        "SESSIONFLOW_SINK_OPS_PORT": str(ops_port),
        "SESSIONFLOW_SINK_GROUP": "ready-test-sink",
    }
    url = f"http://127.0.0.1:{ops_port}"
    with (tmp_path / "sink.log").open("wb") as log:
        sink = subprocess.Popen(
            [sys.executable, "-m", "sessionflow_cli", "sink"], env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, (tmp_path / "sink.log").read_text()
                time.sleep(0.2)
        ready = httpx.get(url + "/ready", timeout=10)
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["kafka"] == "ok" and checks["clickhouse"].startswith("unavailable")
        assert httpx.get(url + "/metrics").status_code == 200
    finally:
        sink.terminate()
        sink.wait(timeout=30)
