"""The chart's default rendering and ``kustomize build deploy/`` are the same objects.

Apart from Helm's labels (and the keep annotation on the CRDs), every object of one is in
the other, field for field, so the chart and deploy/ cannot drift apart. The one object
only deploy/ has is its Namespace: with Helm, ``--create-namespace`` makes it.
"""

from __future__ import annotations

import pytest

from tests.unit.charts.chart_support import (
    CHART,
    DEPLOY,
    DEPLOY_REPO_URL,
    HELM_LABELS,
    by_key,
    kustomize,
    template,
    without_helm,
)

pytestmark = pytest.mark.testbed


def test_the_default_rendering_is_kustomize_build_deploy_apart_from_helm_labels() -> None:
    chart = by_key([without_helm(o) for o in template(CHART, {"repo": {"url": DEPLOY_REPO_URL}})])
    deploy = by_key(kustomize(DEPLOY))

    namespace = deploy.pop(("Namespace", "", "gitflagger-system"))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert sorted(chart) == sorted(deploy)
    for key, obj in deploy.items():
        assert chart[key] == obj, f"{key} differs between the chart and deploy/"


def test_every_chart_object_carries_helms_labels() -> None:
    for obj in template(CHART, {"repo": {"url": DEPLOY_REPO_URL}}):
        labels = obj["metadata"].get("labels", {})
        assert all(label in labels for label in HELM_LABELS), obj["metadata"]["name"]
        assert labels["app.kubernetes.io/name"] == "gitflagger"


def test_the_namespaced_mode_is_deploy_namespaced_and_the_crds() -> None:
    chart = by_key(
        [
            without_helm(o)
            for o in template(
                CHART, {"repo": {"url": DEPLOY_REPO_URL}, "namespace": "apps"}, namespace="apps"
            )
        ]
    )
    deploy = by_key(kustomize(DEPLOY / "namespaced"))
    crds = {k for k in chart if k[0] == "CustomResourceDefinition"}
    assert len(crds) == 3  # deploy/namespaced/ leaves them to an administrator; here crd.create says
    assert sorted(set(chart) - crds) == sorted(deploy)
    for key, obj in deploy.items():
        assert chart[key] == obj, f"{key} differs between the chart and deploy/namespaced/"
