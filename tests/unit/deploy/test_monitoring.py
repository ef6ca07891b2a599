"""The Grafana dashboard and Flagger's alert rule, checked offline (the testbed runs them
against a real Prometheus in tests/integration/test_deploy_monitoring.py)."""

from __future__ import annotations

import re
from itertools import combinations

from gitflagger.engine.telemetry import Telemetry
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


ISTIO_SERIES = {"istio_requests_total", "istio_request_duration_milliseconds_bucket"}
PROMQL_WORDS = {"sum", "by", "le", "rate", "increase", "histogram_quantile", "max", "or", "vector", "metric",
                "kind", "service", "reporter", "destination_workload_namespace", "destination_workload",
                "response_code", "namespace", "name", "workload"}


def annotation_expressions() -> list[str]:
    return [a["expr"] for a in dashboard()["annotations"]["list"] if "expr" in a]


def exported_series() -> set[str]:
    """Every series name the controller exposes: counters as ``_total``, histograms as ``_bucket``…"""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""],
                "info": ["_info"]}
    families = Telemetry().registry.collect()
    return {family.name + suffix for family in families for suffix in suffixes[family.type]}


def test_every_query_uses_an_exported_series() -> None:
    exported = exported_series() | ISTIO_SERIES
    for expr in expressions() + annotation_expressions():
        bare = re.sub(r'"[^"]*"|\[[^\]]*\]|\$\{?\w+\}?', " ", expr)
        names = set(re.findall(r"[a-zA-Z_][a-zA-Z0-9_]*", bare)) - PROMQL_WORDS
        names = {n for n in names if not n.replace(".", "").isdigit()}
        assert names <= exported, f"{expr}: {names - exported} is not exported"


def test_analysis_panels_and_release_annotations() -> None:
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels()}
    assert "flagger_canary_metric_analysis" in by_title["Metric analysis"]
    assert "flagger_canary_duration_seconds_bucket" in by_title["Analysis duration"]
    assert "gitflagger_events_total" in by_title["Events by kind"]
    names = {a["name"]: a["expr"] for a in dashboard()["annotations"]["list"] if "expr" in a}
    assert "flagger_canary_successes_total" in names["Promotions"]
    assert "flagger_canary_failures_total" in names["Rollbacks"]
    for expr in names.values():
        assert 'namespace="$namespace"' in expr and 'name="$canary"' in expr
