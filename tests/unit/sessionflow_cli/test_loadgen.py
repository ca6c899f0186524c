from __future__ import annotations

from sessionflow_cli.loadgen import LoadReport


def test_the_summary_gives_rates_percentiles_and_statuses():
    report = LoadReport(seconds=10.0)
    report.statuses.update({"201": 10, "204": 590})
    report.latencies_ms["event"] = [float(ms) for ms in range(1, 101)]
    report.latencies_ms["start"] = [5.0]
    summary = report.summary()
    assert summary["requests"] == 600 and summary["requests_per_s"] == 60.0
    assert summary["statuses"] == {"201": 10, "204": 590}
    event = summary["latency_ms"]["event"]
    assert event["p50"] == 50.5 and event["p99"] >= 99 and event["max"] == 100.0
    assert summary["latency_ms"]["start"]["p99"] == 5.0
    assert summary["behind_schedule_ms"] == {}
    report.behind_ms.extend([0.0] * 99 + [1500.0])
    assert report.summary()["behind_schedule_ms"]["max"] == 1500.0
