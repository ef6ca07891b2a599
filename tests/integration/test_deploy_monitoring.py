"""deploy/prometheus and deploy/grafana against the real thing: Prometheus' own rule checker
and rule unit tests, and every dashboard query run on the testbed's Prometheus while the mesh
simulator sends traffic to a primary and a failing canary."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.testbed.meshsim import PODINFO, MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.deploy.deploy_files import DEPLOY, dashboard, docs, one, panels

pytestmark = pytest.mark.testbed

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool not found (Debian: apt-get install prometheus)"
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60)


def test_rule_files_pass_promtool_check(tmp_path: Path) -> None:
    operator = one(docs("prometheus/prometheusrule.yaml"), "PrometheusRule")
    extracted = tmp_path / "prometheusrule-spec.yaml"
    extracted.write_text(json.dumps(operator["spec"]))  # JSON is YAML
    for path in (ALERTS, extracted):
        checked = promtool("check", "rules", str(path))
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "SUCCESS: 1 rules found" in checked.stdout


def test_flaggers_alert_fires_a_minute_after_a_rollback_and_only_then(tmp_path: Path) -> None:
    # flagger_canary_status: 0 running, 1 succeeded, 2 failed
    status = "flagger_canary_status{{name={!r},namespace='test'}}".format
    cases = {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [
                {"series": status("podinfo"), "values": "0 0 2 2 2 2"},  # rolled back at 2m
                {"series": status("frontend"), "values": "0 1 1 1 1 1"},  # promoted
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "canary_rollback", "exp_alerts": []},
                {"eval_time": "2m", "alertname": "canary_rollback", "exp_alerts": []},  # pending: `for: 1m`
                {"eval_time": "3m", "alertname": "canary_rollback", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "name": "podinfo", "namespace": "test"},
                    "exp_annotations": {"summary": "Canary failed",
                                        "description": "Workload podinfo namespace test"},
                }]},
            ],
        }],
    }
    spec = tmp_path / "alerts_test.yaml"
    spec.write_text(json.dumps(cases))
    tested = promtool("test", "rules", str(spec))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def _render(expr: str, namespace: str) -> str:
    """What Grafana sends for ``expr`` with this namespace and podinfo selected."""
    values = {"namespace": namespace, "canary": "podinfo", "target": "podinfo",
              "__rate_interval": "1m", "__range": "10m", "__interval": "15s"}
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: values[m.group(1) or m.group(2)], expr)


def _vector(prometheus: Prometheus, promql: str) -> dict[str, float]:
    """An instant query's samples by destination_workload (or '' for one unlabelled sample)."""
    result: list[dict[str, Any]] = prometheus.query(promql)["result"]
    return {r["metric"].get("destination_workload", ""): float(r["value"][1]) for r in result}


def test_every_dashboard_query_runs_and_the_red_panels_show_primary_and_canary(
    prometheus: Prometheus, static_meshsim: MeshSim
) -> None:
    namespace = "dashboard-test"
    # 6.0.2 fails 30% of its requests (tests/testbed/meshsim.py PODINFO_FAULTS)
    static_meshsim.set_routes(namespace, "podinfo", {"podinfo-primary": 80, "podinfo": 20},
                              {"podinfo-primary": f"{PODINFO}:6.0.1", "podinfo": f"{PODINFO}:6.0.2"})
    by_title = {p["title"]: [(t["legendFormat"], _render(t["expr"], namespace)) for t in p["targets"]]
                for p in panels()}

    # Every query is valid PromQL to a real Prometheus (the controller's own series may be absent here).
    annotations = [(a["name"], _render(a["expr"], namespace)) for a in dashboard()["annotations"]["list"]
                   if "expr" in a]
    by_title["annotations"] = annotations
    for title, queries in by_title.items():
        for legend, promql in queries:
            prometheus.query(promql)  # raises with Prometheus' error on a bad query
            assert "$" not in promql, (title, legend, promql)

    def settled() -> dict[str, float] | None:
        shown = {f"{title}/{legend}": values[""] for title in ("Request rate", "Success rate", "5xx errors")
                 for legend, promql in by_title[title] if (values := _vector(prometheus, promql))}
        return shown if len(shown) == 6 and shown["Success rate/canary"] < 90 else None

    deadline = time.monotonic() + 150
    while (shown := settled()) is None:
        assert time.monotonic() < deadline, "the Istio panels never showed both workloads"
        time.sleep(2)
    assert shown["Success rate/primary"] == pytest.approx(100.0)
    assert shown["Success rate/canary"] == pytest.approx(70.0, abs=5)
    assert shown["5xx errors/primary"] == 0
    assert shown["5xx errors/canary"] > 0
    # the request rates follow the 80/20 split
    share = shown["Request rate/canary"] / (shown["Request rate/canary"] + shown["Request rate/primary"])
    assert share == pytest.approx(0.2, abs=0.05)
    durations = {legend: _vector(prometheus, promql) for legend, promql in by_title["Request duration"]}
    assert all(v and v[""] > 0 for v in durations.values()), durations
