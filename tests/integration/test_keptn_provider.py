"""The Keptn provider and ``gitflagger metrics check --canary`` on the testbed's real API server.

The testbed installs a minimal structural ``KeptnMetric`` CRD (``tests/testbed/crds/keptn-metrics.yaml``,
from Keptn's published ``metrics.keptn.sh/v1beta1`` schema). The provider reads an
object's ``status.value`` as Flagger's does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from kubernetes import client as k8s_client

from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.metrics import QueryFailed, provider_for
from gitflagger.cli.main import cli
from gitflagger.model.templates import MetricProviderSpec

pytestmark = pytest.mark.testbed
GROUP, VERSION = "metrics.keptn.sh", "v1beta1"


def keptn_metric(api: k8s_client.ApiClient, namespace: str, name: str, value: str | None) -> None:
    objects = k8s_client.CustomObjectsApi(api)
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "KeptnMetric",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {"name": "prometheus"}, "query": "sum(up)", "fetchIntervalSeconds": 10},
    }
    objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "keptnmetrics", body)
    if value is not None:
        status = {"status": {"value": value, "lastUpdated": "2026-12-06T20:00:00Z"}}
        objects.patch_namespaced_custom_object_status(GROUP, VERSION, namespace, "keptnmetrics", name, status)


def test_reads_status_value_of_a_keptn_metric(
    cluster: Any, kube_api: k8s_client.ApiClient, namespace: str
) -> None:
    keptn_metric(kube_api, namespace, "podinfo-errors", "0.25")
    keptn_metric(kube_api, namespace, "not-measured", None)
    kube = KubeCluster.connect(str(cluster.kubeconfig))
    try:
        provider = provider_for(MetricProviderSpec(type="keptn"), kube=kube.get)
        # lower-cased and trimmed, as Flagger does
        assert provider.run_query(f"  KeptnMetric/{namespace}/Podinfo-Errors\n") == 0.25
        with pytest.raises(QueryFailed, match=f"no value found in resource {namespace}/not-measured"):
            provider.run_query(f"keptnmetric/{namespace}/not-measured")
        with pytest.raises(QueryFailed, match="not found"):
            provider.run_query(f"keptnmetric/{namespace}/absent")
        assert provider.is_online()
    finally:
        kube.close()


def test_metrics_check_reads_template_and_variables_from_the_cluster(
    cluster: Any, kube_api: k8s_client.ApiClient, namespace: str
) -> None:
    keptn_metric(kube_api, namespace, "podinfo-errors", "1.5")
    objects = k8s_client.CustomObjectsApi(kube_api)
    template = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "keptn-errors", "namespace": namespace},
        "spec": {
            "provider": {"type": "keptn"},
            "query": "keptnmetric/{{ namespace }}/{{ variables.metric }}",
        },
    }
    objects.create_namespaced_custom_object("flagger.app", "v1beta1", namespace, "metrictemplates", template)
    canary = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": namespace},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {
                "interval": "1m",
                "threshold": 5,
                "maxWeight": 50,
                "stepWeight": 10,
                "metrics": [
                    {
                        "name": "keptn-errors",
                        "templateRef": {"name": "keptn-errors"},
                        "templateVariables": {"metric": "podinfo-errors"},
                        "thresholdRange": {"max": 2},
                        "interval": "2m",
                    }
                ],
            },
        },
    }
    objects.create_namespaced_custom_object("flagger.app", "v1beta1", namespace, "canaries", canary)
    args = [
        "metrics",
        "check",
        f"{namespace}/keptn-errors",
        "--canary",
        f"{namespace}/podinfo",
        "--kubeconfig",
        str(cluster.kubeconfig),
    ]
    result = CliRunner().invoke(cli, [*args, "-o", "json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["value"] == 1.5 and out["provider"] == "keptn"
    assert out["query"] == f"keptnmetric/{namespace}/podinfo-errors"
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "value    1.5" in table.output and "provider keptn" in table.output
    context = yaml.safe_load(cluster.kubeconfig.read_text())["current-context"]
    named = CliRunner().invoke(cli, [*args, "--context", context, "-o", "json"])
    assert named.exit_code == 0 and json.loads(named.output)["value"] == 1.5, named.output
    unknown = CliRunner().invoke(cli, [*args, "--context", "no-such-context"])
    assert unknown.exit_code == 1, unknown.output
    expected = f"error: cannot load kubeconfig {cluster.kubeconfig} (context no-such-context): "
    assert unknown.output.startswith(expected)
    assert len(unknown.output.splitlines()) == 1
    missing = CliRunner().invoke(cli, [*args[:3], "--canary", f"{namespace}/nope", *args[5:]])
    assert missing.exit_code == 1
    assert missing.output.strip() == f"error: Canary {namespace}/nope not found"
