"""The Grafana dashboard and Flagger's alert rule, checked offline (the testbed runs them
against a real Prometheus in tests/integration/test_deploy_monitoring.py)."""

from __future__ import annotations

import re
from itertools import combinations

from tests.unit.deploy.deploy_files import dashboard, docs, one, panels

REQUIRED_METRICS = [
    "istio_requests_total",
    "istio_request_duration_milliseconds_bucket",
    "flagger_canary_weight",
    "flagger_canary_status",
    "gitflagger_commits_total",
    "gitflagger_push_retries_total",
    "gitflagger_apply_seconds_bucket",
    "gitflagger_drift_total",
]
GRAFANA_BUILTINS = {"__rate_interval", "__range", "__interval"}
# Flagger's documented rule (docs/gitbook/usage/alerting.md, "Prometheus Alert Manager").
FLAGGER_ALERT = {
    "alert": "canary_rollback",
    "expr": "flagger_canary_status > 1",
    "for": "1m",
    "labels": {"severity": "warning"},
    "annotations": {
        "summary": "Canary failed",
        "description": "Workload {{ $labels.name }} namespace {{ $labels.namespace }}",
    },
}


def expressions() -> list[str]:
    return [t["expr"] for p in panels() for t in p["targets"]]


def test_dashboard_charts_every_metric_it_promises() -> None:
    text = " ".join(expressions())
    for metric in REQUIRED_METRICS:
        assert re.search(rf"\b{metric}\b", text), metric


def test_dashboard_red_panels_compare_primary_and_canary() -> None:
    for p in panels():
        exprs = [t["expr"] for t in p["targets"]]
        if any("istio_" in e for e in exprs):
            workloads = {m for e in exprs for m in re.findall(r'destination_workload="([^"]+)"', e)}
            assert workloads == {"${target}-primary", "$target"}, p["title"]


def test_dashboard_uses_only_variables_it_defines() -> None:
    defined = {v["name"] for v in dashboard()["templating"]["list"]}
    assert defined == {"datasource", "namespace", "canary", "target"}
    used = {m for e in expressions() for m in re.findall(r"\$\{?(\w+)", e)}
    assert used - GRAFANA_BUILTINS <= defined
    for p in dashboard()["panels"]:
        if p["type"] != "row":
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]


def test_dashboard_layout_is_sound() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    assert board["uid"] == "gitflagger-canary-analysis"
    boxes = [(p["title"], p["gridPos"]) for p in board["panels"]]
    for (a, pa), (b, pb) in combinations(boxes, 2):
        overlap_x = pa["x"] < pb["x"] + pb["w"] and pb["x"] < pa["x"] + pa["w"]
        overlap_y = pa["y"] < pb["y"] + pb["h"] and pb["y"] < pa["y"] + pa["h"]
        assert not (overlap_x and overlap_y), f"{a} overlaps {b}"
    assert all(g["x"] + g["w"] <= 24 for _, g in boxes)


def test_alert_rule_is_flaggers_in_both_forms() -> None:
    (plain,) = docs("prometheus/alerts.yaml")
    operator = one(docs("prometheus/prometheusrule.yaml"), "PrometheusRule")
    assert operator["apiVersion"] == "monitoring.coreos.com/v1"
    assert plain["groups"] == operator["spec"]["groups"]
    (group,) = plain["groups"]
    assert group["rules"] == [FLAGGER_ALERT]
