"""charts/loadtester and deploy/loadtester/: Flagger's flagger-loadtester, run by ``gitflagger loadtester``.

The names are Flagger's (Deployment and Service ``flagger-loadtester``, port 80), so Canaries
calling ``http://flagger-loadtester.test/`` work unchanged; the chart's default rendering is
``kustomize build deploy/loadtester/``; every value changes the rendering or is refused by name;
the rendered arguments parse as ``gitflagger loadtester``'s own flags.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gitflagger.loadtester.cli import loadtester_command
from tests.unit.charts.chart_support import (
    DEPLOY,
    LOADTESTER_CHART,
    Obj,
    by_key,
    find,
    kustomize,
    run,
    template,
    template_error,
    without_helm,
)
from tests.unit.charts.test_chart_values import leaves, mutated

pytestmark = pytest.mark.testbed

VALUES = yaml.safe_load((LOADTESTER_CHART / "values.yaml").read_text())


def args(objects: list[Obj]) -> list[str]:
    return list(
        find(objects, "Deployment", "flagger-loadtester")["spec"]["template"]["spec"]["containers"][0]["args"]
    )


def test_helm_lint_passes() -> None:
    assert "0 chart(s) failed" in run("helm", "lint", "--strict", str(LOADTESTER_CHART)).stdout


def test_the_default_rendering_is_kustomize_build_deploy_loadtester() -> None:
    chart = by_key([without_helm(o) for o in template(LOADTESTER_CHART, {}, namespace="test", release="lt")])
    deploy = by_key(kustomize(DEPLOY / "loadtester"))
    assert (
        sorted(chart)
        == sorted(deploy)
        == [
            ("Deployment", "test", "flagger-loadtester"),
            ("Service", "test", "flagger-loadtester"),
        ]
    )
    for key, obj in deploy.items():
        assert chart[key] == obj, f"{key} differs between the chart and deploy/loadtester/"
    service = deploy[("Service", "test", "flagger-loadtester")]["spec"]
    assert service["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


@pytest.mark.parametrize("path", [p for p, _ in leaves(VALUES)])
def test_every_value_changes_the_rendering_or_is_refused_by_name(path: str) -> None:
    special: dict[str, Any] = {
        "logLevel": "debug",
        "cmd.timeout": "5m",
        "allowCommands": ["hey", "ghz"],
        "image.pullPolicy": "Always",
        "securityContext": {"readOnlyRootFilesystem": False},
        "podSecurityContext": {"runAsUser": 1000},
        "resources": {"requests": {"cpu": "1"}},
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"operator": "Exists"}],
        "affinity": {"podAntiAffinity": {}},
        "operatorToken.secretName": "token",
        "namespaceRegexp": "^test$",
    }
    value = special[path] if path in special else mutated(path, dict(leaves(VALUES))[path])
    base = template(LOADTESTER_CHART, {})
    try:
        rendered = template(LOADTESTER_CHART, {path: value})
    except AssertionError:
        error = template_error(LOADTESTER_CHART, {path: value})
        assert path in error or "/" + path.replace(".", "/") in error, error
        return
    assert rendered != base, f"{path} changed nothing"


@pytest.mark.parametrize(
    "values",
    [
        {},
        {
            "allowCommands": ["hey", "ghz"],
            "enableBash": True,
            "namespaceRegexp": "^test$",
            "maxTasks": 4,
            "cmd.timeout": "5m",
            "logLevel": "debug",
            "insecureOpenGates": True,
        },
        {"operatorToken.secretName": "loadtester-token"},
    ],
    ids=["defaults", "every-flag", "operator-token"],
)
def test_the_rendered_arguments_are_gitflagger_loadtesters_flags(values: dict[str, Any]) -> None:
    rendered = args(template(LOADTESTER_CHART, values))
    assert rendered[0] == "loadtester"
    ctx = loadtester_command.make_context("loadtester", rendered[1:])  # a flag it lacks is a UsageError
    assert ctx.params["port"] == 8080


def test_an_operator_token_is_mounted_where_the_flag_reads_it() -> None:
    objects = template(LOADTESTER_CHART, {"operatorToken.secretName": "loadtester-token"})
    spec = find(objects, "Deployment", "flagger-loadtester")["spec"]["template"]["spec"]
    assert "--operator-token-file=/etc/flagger-loadtester/token/token" in args(objects)
    assert {"name": "operator-token", "mountPath": "/etc/flagger-loadtester/token", "readOnly": True} in spec[
        "containers"
    ][0]["volumeMounts"]
    assert {
        "name": "operator-token",
        "secret": {"secretName": "loadtester-token", "defaultMode": 288},
    } in spec["volumes"]


@pytest.mark.parametrize(
    "values, refused",
    [
        ({"operatorToken.secretName": "t", "insecureOpenGates": True}, "insecureOpenGates"),
        ({"meshName": "global"}, "meshName"),  # Flagger's App Mesh value
        ({"podAnnotations.x": "y"}, "podAnnotations"),
        ({"logLevel": "trace"}, "logLevel"),
    ],
)
def test_values_it_cannot_act_on_are_refused_naming_them(values: dict[str, Any], refused: str) -> None:
    assert refused in template_error(LOADTESTER_CHART, values)
