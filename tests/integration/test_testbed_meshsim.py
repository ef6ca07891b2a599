"""The mesh simulator, scraped by a real Prometheus, answers Flagger's Istio queries."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.testbed.meshsim import ISTIO_BUCKETS, PODINFO, Fault, LatencySampler, MeshSim
from tests.testbed.prometheus import Prometheus

# Flagger's built-in Istio queries (fluxcd/flagger pkg/metrics/observers/istio.go; upstream
# spreads the same tokens over several lines).
REQUEST_SUCCESS_RATE = (
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}",response_code!~"5.*"}[{{ interval }}])) / '
    'sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"}[{{ interval }}])) * 100'
)
REQUEST_DURATION = (
    "histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter=\"destination\","
    'destination_workload_namespace="{{ namespace }}",destination_workload=~"{{ target }}"}[{{ interval }}]))'
    " by (le))"
)
INTERVAL = "30s"
_ns = itertools.count(1)


def render(query: str, namespace: str, target: str, interval: str = INTERVAL) -> str:
    return (query.replace("{{ namespace }}", namespace).replace("{{ target }}", target)
            .replace("{{ interval }}", interval))


def share(namespace: str, workload: str, interval: str = INTERVAL) -> str:
    """The share of a namespace's requests that went to ``workload``."""
    sel = f'reporter="destination",destination_workload_namespace="{namespace}"'
    return (f'sum(rate(istio_requests_total{{{sel},destination_workload="{workload}"}}[{interval}])) / '
            f"sum(rate(istio_requests_total{{{sel}}}[{interval}]))")


def eventually(prom: Prometheus, promql: str, ok: Callable[[float], bool], timeout: float = 150.0) -> float:
    """Poll until ``ok(value)`` holds (the rate window fills up first); return the last value."""
    deadline = time.monotonic() + timeout
    value: float | None = None
    while time.monotonic() < deadline:
        value = prom.query_value(promql)
        if value is not None and ok(value):
            return value
        time.sleep(1.0)
    pytest.fail(f"{promql}\n never satisfied the expectation; last value {value}")


# ---- without Prometheus --------------------------------------------------


def bucket_p99(samples: list[float]) -> float:
    """histogram_quantile(0.99) as Prometheus computes it from Istio's buckets."""
    counts = [sum(1 for s in samples if s <= le) for le in ISTIO_BUCKETS]
    rank = 0.99 * len(samples)
    for i, c in enumerate(counts):
        if c >= rank:
            lo, below = (ISTIO_BUCKETS[i - 1], counts[i - 1]) if i else (0.0, 0)
            return lo + (ISTIO_BUCKETS[i] - lo) * (rank - below) / (c - below)
    raise AssertionError("rank beyond the last bucket")


@pytest.mark.parametrize("p99", [80.0, 240.0, 1500.0, 2400.0, 7000.0])
def test_latency_sampler_bucketed_p99_matches_spec(p99: float) -> None:
    sampler = LatencySampler(Fault(p99_latency_ms=p99), seed=7)
    samples = [sampler.next() for _ in range(5000)]
    assert bucket_p99(samples) == pytest.approx(p99, rel=0.03)
    assert sorted(samples)[2500] == pytest.approx(20.0, rel=0.15)  # the median


def test_generate_splits_by_weight_with_exact_error_share() -> None:
    sim = MeshSim(faults={f"{PODINFO}:6.0.2": Fault(error_rate=0.3)}, rate=100.0)
    sim.source.set_routes("ns", "podinfo", {"podinfo-primary": 70, "podinfo": 30},  # type: ignore[attr-defined]
                          {"podinfo": f"{PODINFO}:6.0.2"})
    sim._refresh()
    for _ in range(100):
        sim.generate(0.1)  # 10 s of traffic

    def count(workload: str, code: str) -> float:
        value = sim.registry.get_sample_value("istio_requests_total", {
            "reporter": "destination", "source_workload": "istio-ingressgateway",
            "source_workload_namespace": "istio-system", "destination_workload": workload,
            "destination_workload_namespace": "ns", "destination_service": f"{workload}.ns.svc.cluster.local",
            "destination_service_name": workload, "destination_service_namespace": "ns",
            "request_protocol": "http", "response_code": code, "connection_security_policy": "mutual_tls"})
        return value or 0.0

    assert count("podinfo-primary", "200") == pytest.approx(700, abs=1)
    assert count("podinfo-primary", "500") == 0
    assert count("podinfo", "500") == pytest.approx(90, abs=1)
    assert count("podinfo", "200") == pytest.approx(210, abs=1)


# ---- through a real Prometheus ------------------------------------------


@pytest.mark.testbed
def test_static_weights_flagger_queries(prometheus: Prometheus, static_meshsim: MeshSim) -> None:
    bad, slow = f"meshsim-bad-{next(_ns)}", f"meshsim-slow-{next(_ns)}"
    static_meshsim.set_routes(bad, "podinfo", {"podinfo-primary": 70, "podinfo": 30},
                              {"podinfo-primary": f"{PODINFO}:6.0.1", "podinfo": f"{PODINFO}:6.0.2"})
    static_meshsim.set_routes(slow, "podinfo", {"podinfo-primary": 70, "podinfo": 30},
                              {"podinfo-primary": f"{PODINFO}:6.0.1", "podinfo": f"{PODINFO}:6.0.3"})

    # 6.0.2 fails 30% of requests: Flagger's success rate for the canary is ~70%.
    rate = eventually(prometheus, render(REQUEST_SUCCESS_RATE, bad, "podinfo"), lambda v: abs(v - 70) < 2)
    assert rate == pytest.approx(70.0, abs=2)
    primary = eventually(prometheus, render(REQUEST_SUCCESS_RATE, bad, "podinfo-primary"), lambda v: v > 99.9)
    assert primary == 100.0
    # The traffic follows the weights.
    assert eventually(prometheus, share(bad, "podinfo"), lambda v: abs(v - 0.3) < 0.02) == pytest.approx(
        0.3, abs=0.02)

    # 6.0.3 has a p99 of 1500 ms; the healthy primary stays within its 50-100 ms bucket.
    p99 = eventually(prometheus, render(REQUEST_DURATION, slow, "podinfo"), lambda v: abs(v - 1500) < 150)
    assert p99 == pytest.approx(1500, rel=0.1)
    healthy = eventually(prometheus, render(REQUEST_DURATION, slow, "podinfo-primary"), lambda v: v < 100)
    assert 50 < healthy < 100
    assert eventually(prometheus, render(REQUEST_SUCCESS_RATE, slow, "podinfo"), lambda v: v > 99.9) == 100.0


def podinfo_objects(namespace: str, canary_image: str, canary_weight: int) -> list[dict[str, Any]]:
    """What Flagger would have made of podinfo mid-analysis: two Deployments, two Services, a VS."""
    def deployment(name: str, image: str) -> dict[str, Any]:
        labels = {"app": name}
        meta = {"name": name, "namespace": namespace}
        return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "podinfod", "image": image}]}}}}

    def service(name: str, app: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
                "spec": {"selector": {"app": app}, "ports": [{"name": "http", "port": 9898}]}}

    vs = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
          "metadata": {"name": "podinfo", "namespace": namespace},
          "spec": {"hosts": ["podinfo"], "http": [{"route": [
              {"destination": {"host": "podinfo-primary"}, "weight": 100 - canary_weight},
              {"destination": {"host": "podinfo-canary"}, "weight": canary_weight}]}]}}
    return [deployment("podinfo-primary", f"{PODINFO}:6.0.1"), deployment("podinfo", canary_image),
            service("podinfo-primary", "podinfo-primary"), service("podinfo-canary", "podinfo"), vs]


@pytest.mark.testbed
def test_cluster_virtualservice_weights(
    prometheus: Prometheus, meshsim: MeshSim, kube_api: Any, namespace: str
) -> None:
    from kubernetes import client, utils

    for obj in podinfo_objects(namespace, f"{PODINFO}:6.0.2", canary_weight=30):
        if obj["kind"] == "VirtualService":
            client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
                "networking.istio.io", "v1beta1", namespace, "virtualservices", obj)
        else:
            utils.create_from_dict(kube_api, obj)  # type: ignore[no-untyped-call]

    success_rate = render(REQUEST_SUCCESS_RATE, namespace, "podinfo")
    rate = eventually(prometheus, success_rate, lambda v: abs(v - 70) < 2)
    assert rate == pytest.approx(70.0, abs=2)
    canary_share = eventually(prometheus, share(namespace, "podinfo"), lambda v: abs(v - 0.3) < 0.02)
    assert canary_share == pytest.approx(0.3, abs=0.02)
    primary_share = eventually(prometheus, share(namespace, "podinfo-primary"), lambda v: abs(v - 0.7) < 0.02)
    assert primary_share == pytest.approx(0.7, abs=0.02)
    routes = [r for r in meshsim.routes() if r.namespace == namespace]
    assert [(d.workload, d.service, d.weight) for d in routes[0].destinations] == [
        ("podinfo-primary", "podinfo-primary", 70), ("podinfo", "podinfo-canary", 30)]
