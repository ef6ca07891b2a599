"""A delegate and a TCP Canary, rendered and applied to the testbed's API server, read back live.

The unit and golden tests pin the rendered bytes; this proves the API server
(with the testbed's Istio CRDs, and Kubernetes' own Service and HPA validation)
stores them as rendered: a delegate VirtualService without hosts or gateways, a
weighted ``tcp`` route whose weights the router reads back, headless Services
with ``appProtocol`` and ``trafficDistribution``, the primary HPA's own
bounds, and the refusal of a Service turned headless after it got a cluster IP.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.kube import Invalid, KubeCluster
from gitflagger.decide.decision import Decision, Routes
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import State
from gitflagger.render import WorkloadInputs, render
from gitflagger.render.routers import router_for
from tests.testbed.cluster import Cluster
from tests.unit.render import podinfo

pytestmark = pytest.mark.testbed

ISTIO = "networking.istio.io/v1beta1"


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client(), qps=200, burst=200)
    try:
        yield kc
    finally:
        kc.close()


def _canary(namespace: str, name: str, scaler: dict[str, int] | None = None, **service: Any) -> Canary:
    """The podinfo Canary as ``name``; with ``scaler``, its HPA gets those primaryScalerReplicas."""
    doc = podinfo.load("canary-v1beta1.yaml")
    doc["metadata"] = {"name": name, "namespace": namespace}
    doc["spec"]["targetRef"]["name"] = name
    doc["spec"]["service"] = {"port": 9898, "name": name, **service}
    del doc["spec"]["analysis"]["metrics"]  # the built-in ones are refused with tcp; no analysis runs here
    if scaler is None:
        del doc["spec"]["autoscalerRef"]
    else:
        doc["spec"]["autoscalerRef"]["primaryScalerReplicas"] = scaler
    return parse_canary(doc)


def _apply(kube: KubeCluster, canary: Canary, primary: int, canary_weight: int) -> None:
    """Render the Canary's step at ``primary``/``canary_weight`` and apply every object."""
    target = podinfo.target()
    target["metadata"]["name"] = canary.target_name
    hpa = podinfo.hpa() if canary.spec.autoscaler_ref is not None else None
    decision = Decision(state=State(), routes=Routes(primary, canary_weight), primary_from_target=True)
    kube.apply(render(canary, WorkloadInputs(target=target, hpa=hpa), decision))


def _live(kube: KubeCluster, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get(api_version, kind, namespace, name)
    assert obj is not None, f"{kind} {name} was not applied"
    return obj


def test_delegate_and_tcp_virtual_services_live(kube: KubeCluster, namespace: str) -> None:
    delegate = _canary(namespace, "web", delegation=True, portDiscovery=True)
    _apply(kube, delegate, 90, 10)
    vs = _live(kube, ISTIO, "VirtualService", namespace, "web")
    assert "hosts" not in vs["spec"] and "gateways" not in vs["spec"]
    ports = {d["destination"]["port"]["number"] for d in vs["spec"]["http"][0]["route"]}
    assert ports == {9898}
    assert router_for("istio").weights(vs) == (90, 10)

    tcp = _canary(
        namespace,
        "db",
        scaler={"minReplicas": 3, "maxReplicas": 6},
        appProtocol="tcp",
        headless=True,
        trafficDistribution="PreferClose",
        match=[{"port": 9898}],
    )
    _apply(kube, tcp, 70, 30)
    vs = _live(kube, ISTIO, "VirtualService", namespace, "db")
    assert "http" not in vs["spec"]
    assert vs["spec"]["tcp"][0]["match"] == [{"port": 9898}]
    assert router_for("istio").weights(vs) == (70, 30)
    for name in ("db", "db-primary", "db-canary"):
        svc = _live(kube, "v1", "Service", namespace, name)["spec"]
        assert (svc["clusterIP"], svc["trafficDistribution"]) == ("None", "PreferClose"), name
        assert svc["ports"][0]["appProtocol"] == "tcp", name
    hpa = _live(kube, "autoscaling/v2", "HorizontalPodAutoscaler", namespace, "podinfo-primary")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 6)

    # The delegate's Services have cluster IPs now: the API server refuses making them headless.
    with pytest.raises(Invalid, match="clusterIP"):
        _apply(kube, _canary(namespace, "web", delegation=True, portDiscovery=True, headless=True), 90, 10)


def test_an_unmanaged_label_keeps_another_writers_value(kube: KubeCluster, namespace: str) -> None:
    """``app`` is the label gitflagger writes on each Service; listed as unmanaged, a user's value stays."""
    _apply(kube, _canary(namespace, "web"), 100, 0)
    path = kube.resources.resolve("v1", "Service").path(namespace, "web")
    kube.transport.request(
        "PATCH", path, body={"metadata": {"labels": {"app": "mine"}}},
        content_type="application/merge-patch+json", what="label as a user",
    )

    _apply(kube, _canary(namespace, "web", unmanagedMetadata={"labels": ["app"]}), 100, 0)
    assert _live(kube, "v1", "Service", namespace, "web")["metadata"]["labels"]["app"] == "mine"

    # Not listed: gitflagger's apply takes the label back (so the check above is not vacuous).
    _apply(kube, _canary(namespace, "web"), 100, 0)
    assert _live(kube, "v1", "Service", namespace, "web")["metadata"]["labels"]["app"] == "web"
