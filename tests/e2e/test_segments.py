"""Segments on the real pipeline: defining one backfills its history so its first answer is
complete, sessions sent while it is being defined are counted once (live or backfilled, never
both), app segments, redefinition, deletion, the limit per app and every error."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from sessionflow.clickhouse import ClickHouse
from tests.e2e.pipeline import Pipeline
from tests.e2e.sessions import ORG, body, brute_force, poll_series

APPS = ("rsid-seg-a", "rsid-seg-b")
LIMIT = 4  # segments per app in this module (the default is 25)
SETTINGS = {"segments_per_app": LIMIT}  # read by the pipeline fixture


@dataclass(frozen=True)
class Sent:
    at: datetime
    app: str
    tier: str | None
    show: str


class Sender:
    """Posts random sessions to the edge and remembers every one that got a 201."""

    def __init__(self, pipeline: Pipeline, seed: int) -> None:
        self.edge_url = pipeline.edge_url
        self.rng = random.Random(seed)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.sent: list[Sent] = []

    def send(self, count: int) -> None:
        with httpx.Client(base_url=self.edge_url) as client:
            self._send(client, count)

    def send_until(self, stop: threading.Event, then: int) -> None:
        """Sessions one after the other until ``stop`` is set, then ``then`` more."""
        with httpx.Client(base_url=self.edge_url) as client:
            while not stop.is_set():
                self._send(client, 1)
            self._send(client, then)

    def _send(self, client: httpx.Client, count: int) -> None:
        for _ in range(count):
            at = self.now - timedelta(seconds=self.rng.randrange(0, 20 * 3600))
            item = Sent(
                at,
                self.rng.choice(APPS),
                self.rng.choice(["gold", "silver", None]),
                self.rng.choice(["Formula 1", "Football", "News"]),
            )
            payload = body(item.app, int(at.timestamp() * 1000))
            payload["params"]["media.show"] = item.show
            if item.tier is not None:
                payload["customMetadata"] = {"tier": item.tier}
            response = client.post("/api/v1/sessions", json=payload)
            assert response.status_code == 201, response.text
            self.sent.append(item)


@pytest.fixture(scope="module")
def sender(pipeline: Pipeline) -> Sender:
    history = Sender(pipeline, 7)
    history.send(150)
    return history


@pytest.fixture(scope="module")
def key(pipeline: Pipeline) -> str:
    return pipeline.create_key("--org", ORG)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


GOLD_F = {"all": [{"field": "customMetadata.tier", "op": "eq", "value": "gold"},
                  {"field": "params.media.show", "op": "prefix", "value": "F"}]}  # fmt: skip


def gold_f(s: Sent) -> bool:
    return s.tier == "gold" and s.show.startswith("F")


def put(pipeline: Pipeline, key: str, segment_id: str, definition: dict) -> httpx.Response:
    return httpx.put(
        f"{pipeline.api_url}/segments/{segment_id}", json=definition, headers=auth(key), timeout=60
    )


def series(pipeline: Pipeline, key: str, segment_id: str, end: datetime, unit: str, length: int):
    return httpx.get(
        pipeline.api_url + "/sessions/data_series",
        params={"segment_id": segment_id, "ending_at": end.isoformat(), "unit": unit,
                "length": length},
        headers=auth(key),
    )  # fmt: skip


def want(sent: list[Sent], keep: Callable[[Sent], bool], end: datetime, unit: str, length: int):
    return brute_force([s.at for s in sent if keep(s)], end, unit, length)


CASES = [("hour", 24, UTC), ("day", 2, UTC),
         ("day", 2, timezone(timedelta(hours=5, minutes=30))),
         ("hour", 23, timezone(timedelta(hours=-3, minutes=-30)))]  # fmt: skip


def assert_series(pipeline, key, segment_id, sent, keep, now, wait: bool = False) -> None:
    """The segment's series in every case of ``CASES`` equals the brute-force count, at once
    or (``wait``) once the pipeline has caught up."""
    for unit, length, zone in CASES:
        end = (now + timedelta(minutes=1)).astimezone(zone)
        expected = want(sent, keep, end, unit, length)
        params = {"segment_id": segment_id, "ending_at": end.isoformat(), "unit": unit,
                  "length": length}  # fmt: skip
        got = poll_series(pipeline.api_url + "/sessions/data_series", key, params, expected,
                          timeout=90 if wait else 0)  # fmt: skip
        assert got == expected, (segment_id, unit, zone)


def test_first_answer_of_a_new_segment_is_complete(pipeline, sender, key):
    response = put(pipeline, key, "gold-f", {"name": "Gold motor sport", "filter": GOLD_F})
    assert response.status_code == 201, response.text
    segment = response.json()["segment"]
    assert (
        segment["status"] == "ready" and segment["filter"] == GOLD_F and segment["app_id"] is None
    )
    # No waiting: the first answer already counts every stored session that matches.
    assert_series(pipeline, key, "gold-f", sender.sent, gold_f, sender.now)
    assert sum(map(gold_f, sender.sent)) > 5
    sender.send(40)  # then counted live
    assert_series(pipeline, key, "gold-f", sender.sent, gold_f, sender.now, wait=True)


def test_sessions_sent_while_a_segment_is_defined_count_once(pipeline, sender, key):
    live = Sender(pipeline, 11)
    live.now = sender.now
    # Sessions go on until the PUT has answered, and some after: whatever the edge's speed,
    # some are before the markers (backfilled) and some after (counted live).
    defined = threading.Event()
    thread = threading.Thread(target=live.send_until, args=(defined, 100))
    thread.start()
    time.sleep(1.0)
    response = put(pipeline, key, "silver", {"name": "Silver", "filter": {
        "field": "customMetadata.tier", "op": "eq", "value": "silver"}})  # fmt: skip
    defined.set()
    thread.join()
    assert response.status_code == 201, response.text
    assert len(live.sent) > 100
    everything = sender.sent + live.sent
    assert_series(pipeline, key, "silver", everything, lambda s: s.tier == "silver", sender.now,
                  wait=True)  # fmt: skip
    assert_series(pipeline, key, "gold-f", everything, gold_f, sender.now, wait=True)
    # Both halves did part of the work: sessions before the markers were backfilled from
    # ClickHouse, those after them counted by the worker.
    db = pipeline.settings.clickhouse_database
    clickhouse = ClickHouse(pipeline.settings, pool_size=1)
    try:
        by_origin = dict(clickhouse.execute(
            f"SELECT origin, sum(sessions) FROM (SELECT origin, source_partition, bucket_start, "
            f"app_id, argMax(count, version) AS sessions FROM {db}.session_counts "
            f"WHERE segment_id LIKE 'silver@%%' AND unit = 'day' "
            f"GROUP BY origin, source_partition, bucket_start, app_id) GROUP BY origin"
        ))  # fmt: skip
    finally:
        clickhouse.close()
    history = sum(s.tier == "silver" for s in sender.sent)
    assert by_origin["backfill"] > history and by_origin["stream"] > 0, by_origin
    assert by_origin["backfill"] + by_origin["stream"] == history + sum(
        s.tier == "silver" for s in live.sent
    )
    sender.sent.extend(live.sent)


def test_an_app_segment_counts_that_app_only(pipeline, sender, key):
    news = {"field": "params.media.show", "op": "eq", "value": "News"}
    response = put(pipeline, key, "news-a", {"name": "News on A", "app_id": APPS[0],
                                             "filter": news})  # fmt: skip
    assert response.status_code == 201 and response.json()["segment"]["app_id"] == APPS[0]
    keep = lambda s: s.app == APPS[0] and s.show == "News"  # noqa: E731
    assert_series(pipeline, key, "news-a", sender.sent, keep, sender.now)


def test_redefine_then_delete_then_define_again(pipeline, sender, key):
    same = put(pipeline, key, "gold-f", {"name": "Renamed", "filter": GOLD_F})
    assert same.status_code == 200 and same.json()["segment"]["name"] == "Renamed"
    football = {"field": "params.media.show", "op": "in", "value": ["Football"]}
    changed = put(pipeline, key, "gold-f", {"name": "Football", "filter": football})
    assert changed.status_code == 200, changed.text
    keep = lambda s: s.show == "Football"  # noqa: E731
    assert_series(pipeline, key, "gold-f", sender.sent, keep, sender.now)
    got = httpx.get(pipeline.api_url + "/segments/gold-f", headers=auth(key))
    assert got.status_code == 200 and got.json()["segment"]["filter"] == football
    gone = httpx.delete(pipeline.api_url + "/segments/gold-f", headers=auth(key))
    assert gone.status_code == 204
    assert httpx.get(pipeline.api_url + "/segments/gold-f", headers=auth(key)).status_code == 404
    now = datetime.now(UTC)
    missing = series(pipeline, key, "gold-f", now, "day", 1)
    assert missing.status_code == 404 and missing.json()["errors"] == ["unknown segment gold-f"]
    again = put(pipeline, key, "gold-f", {"name": "Back", "filter": GOLD_F})
    assert again.status_code == 201
    assert_series(pipeline, key, "gold-f", sender.sent, gold_f, sender.now)


def test_segments_per_app_are_limited(pipeline, key):
    exists = {"field": "customMetadata.tier", "op": "exists"}
    for i in range(LIMIT):
        response = put(pipeline, key, f"b{i}", {"name": "b", "app_id": APPS[1], "filter": exists})
        assert response.status_code == 201, response.text
    over = put(pipeline, key, "b-over", {"name": "b", "app_id": APPS[1], "filter": exists})
    assert over.status_code == 409
    assert over.json()["errors"] == [f"app {APPS[1]} already has {LIMIT} segments"]
    # Redefining one of them is not a new one; deleting one makes room.
    assert (
        put(pipeline, key, "b0", {"name": "b0", "app_id": APPS[1], "filter": exists}).status_code
        == 200
    )
    assert httpx.delete(pipeline.api_url + "/segments/b0", headers=auth(key)).status_code == 204
    assert (
        put(pipeline, key, "b-over", {"name": "b", "app_id": APPS[1], "filter": exists}).status_code
        == 201
    )


def test_segment_errors(pipeline, key):
    url = pipeline.api_url + "/segments/"
    bad = httpx.put(url + "x", json={"name": "x", "filter": {"all": [{"field": "media.show",
                    "op": "like"}]}}, headers=auth(key))  # fmt: skip
    assert bad.status_code == 400
    assert any("filter.all[0].field" in e for e in bad.json()["errors"]), bad.text
    assert httpx.put(url + "x", content=b"{", headers=auth(key)).status_code == 400
    no_name = httpx.put(url + "x", json={"filter": {"field": "params.a", "op": "exists"}},
                        headers=auth(key))  # fmt: skip
    assert no_name.status_code == 400 and "name" in no_name.json()["errors"][0]
    assert httpx.get(url + "has%20space", headers=auth(key)).status_code == 400
    assert httpx.get(url + "x").status_code == 401
    assert httpx.get(url + "never-defined", headers=auth(key)).status_code == 404
    reader = pipeline.create_key("--org", ORG, "--permission", "sessions.data_series")
    exists = {"name": "x", "filter": {"field": "params.a", "op": "exists"}}
    denied = httpx.put(url + "x", json=exists, headers=auth(reader))
    assert denied.status_code == 403
    assert denied.json()["errors"] == ["key lacks the permission segments.write"]
    assert httpx.get(url + "silver", headers=auth(reader)).status_code == 200
    scoped = pipeline.create_key("--org", ORG, "--app", APPS[0])
    org_wide = httpx.put(url + "x", json=exists, headers=auth(scoped))
    assert org_wide.status_code == 403
    other_app = httpx.put(url + "x", json={**exists, "app_id": APPS[1]}, headers=auth(scoped))
    assert other_app.status_code == 403
    for response in (bad, denied, org_wide):
        assert "X-RateLimit-Remaining" in response.headers
    other_org = pipeline.create_key("--org", "someone-else")
    assert httpx.get(url + "silver", headers=auth(other_org)).status_code == 404
