"""The externalmetrics provider: its query format and quantities, and the cluster path on the testbed.

Its HTTP exchanges with an external metrics API server at ``spec.provider.address``
are in test_metrics_contracts.py. Here: Flagger's query parsing, Kubernetes quantities,
and, with no address, the request going through the controller's own cluster
connection (the testbed's kube-apiserver serves no external metrics, so it answers
404, which must be a failed check naming the API).
"""

from __future__ import annotations

from typing import Any

import pytest

from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.metrics import QueryFailed, provider_for
from gitflagger.adapters.metrics.context import cluster_api
from gitflagger.adapters.metrics.externalmetrics import parse_quantity, parse_query
from gitflagger.errors import ValidationError
from gitflagger.model.templates import MetricProviderSpec


@pytest.mark.parametrize(
    ("query", "parsed"),
    [
        ("mesh/errors?labelSelector=app%3Dpodinfo", ("mesh", "errors", "app=podinfo")),
        ("errors", ("default", "errors", "")),
        ("/errors", ("default", "errors", "")),
    ],
)
def test_query_format_is_flaggers(query: str, parsed: tuple[str, str, str]) -> None:
    assert parse_query(query) == parsed


@pytest.mark.parametrize(
    ("query", "message"), [("a/b/c", "too many slashes"), ("mesh/", "metric name cannot be empty")]
)
def test_malformed_queries_are_failed_checks(query: str, message: str) -> None:
    with pytest.raises(QueryFailed, match=message):
        parse_query(query)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1500m", 1.5),
        ("7", 7.0),
        ("2Ki", 2048.0),
        ("1e3", 1000.0),
        ("250u", 0.00025),
        ("-3", -3.0),
        ("1.5G", 1.5e9),
    ],
)
def test_quantities(text: str, value: float) -> None:
    assert parse_quantity(text) == pytest.approx(value)


def test_no_address_and_no_cluster_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match=r"spec\.provider\.address: required when there is no cluster"):
        provider_for(MetricProviderSpec(type="externalmetrics"))


@pytest.mark.testbed
def test_without_an_address_the_cluster_api_is_asked(cluster: Any) -> None:
    kube = KubeCluster.connect(str(cluster.kubeconfig))
    try:
        provider = provider_for(MetricProviderSpec(type="externalmetrics"), kube_api=cluster_api(kube))
        with pytest.raises(QueryFailed) as err:
            provider.run_query("mesh/errors?labelSelector=app%3Dpodinfo")
        message = str(err.value)
        assert message.startswith("externalmetrics: error querying external metrics API: ")
        assert "/apis/external.metrics.k8s.io/v1beta1/namespaces/mesh/errors" in message and "404" in message
        assert not provider.is_online()
    finally:
        kube.close()
