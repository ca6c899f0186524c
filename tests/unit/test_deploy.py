"""docker-compose.yml's monitoring: Prometheus scrapes every process where it serves /metrics,
and the provisioned Grafana dashboard only plots metrics sessionflow exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import sessionflow.metrics  # noqa: F401  (registers every metric)
from sessionflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_prometheus_scrapes_every_process_on_its_port():
    config = (ROOT / "deploy/prometheus/prometheus.yml").read_text()
    targets = set(re.findall(r'"(\w+):(\d+)"', config))
    s = Settings()
    assert targets == {
        ("edge", str(s.edge_port)), ("api", str(s.api_port)),
        ("worker", str(s.worker_ops_port)), ("sink", str(s.sink_ops_port)),
    }  # fmt: skip
    compose = (ROOT / "docker-compose.yml").read_text()
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml" in compose
    assert "./deploy/grafana/dashboards:/var/lib/grafana/dashboards" in compose


# The series a metric family exports besides its own name (counters, histograms).
PARTS = ("total", "bucket", "sum", "count")


def test_the_grafana_dashboard_plots_exported_metrics_only():
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/sessionflow.json").read_text())
    exported = {
        sample
        for family in REGISTRY.collect()
        if family.name.startswith("sessionflow_")
        for sample in (family.name, *(f"{family.name}_{part}" for part in PARTS))
    }
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"sessionflow_\w+", target["expr"])
    }
    assert used and used <= exported, used - exported
