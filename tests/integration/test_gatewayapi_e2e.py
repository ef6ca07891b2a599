"""A Gateway API Canary on the testbed: promotion and rollback through an HTTPRoute, with real Prometheus.

The testbed's API server serves the standard Gateway API CRDs (from the
``sigs.k8s.io/gateway-api`` module, tests/testbed/gateway_api.py). Two apps
share a namespace: ``good`` ships the healthy 6.0.1, ``bad`` the 6.0.2 that
fails 30% of requests. ``good`` names no provider and gets the controller's
``--mesh-provider gatewayapi:v1``; ``bad`` says ``spec.provider: gatewayapi:v1``.
The controller applies one HTTPRoute per app and no Istio object; the mesh
simulator splits traffic by the HTTPRoute's backendRefs weights, Prometheus
scrapes it, and a MetricTemplate judges each step (the built-in checks are
Istio's queries and are refused for Gateway API). Passes run as soon as the
world is ready for them, as in test_analysis_e2e.py.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.telemetry import configure_logging
from tests.integration.analysis_support import (
    Passes,
    app,
    canary_events,
    create_all,
    custom,
    metric_template,
    primary_image,
    status,
)
from tests.integration.analysis_support import set_image as set_app_image
from tests.integration.controller_support import kube, wait_for  # noqa: F401 (fixture)
from tests.testbed.gitserver import RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus

pytestmark = pytest.mark.testbed

HTTP_ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
ISTIO = [("networking.istio.io/v1beta1", kind) for kind in ("VirtualService", "DestinationRule")]
SELECTOR = (
    'reporter="destination",destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)
ERROR_RATE = (
    f'100 - sum(rate(istio_requests_total{{{SELECTOR},response_code!~"5.*"}}[{{{{ interval }}}}]))\n'
    f"  / sum(rate(istio_requests_total{{{SELECTOR}}}[{{{{ interval }}}}])) * 100"
)


@pytest.fixture(autouse=True)
def _logs_back_to_stderr() -> Iterator[None]:
    yield
    configure_logging()


def _gateway_app(ns: str, name: str, *, explicit: bool) -> list[dict[str, Any]]:
    deployment, hpa, canary = app(ns, name, metrics=[custom("error-rate", "error-rate", max_value=1)])
    service = canary["spec"]["service"]
    del service["trafficPolicy"]  # an Istio DestinationRule block: refused under Gateway API
    service["gatewayRefs"] = [{"name": "public", "namespace": "gateways"}]
    if explicit:
        canary["spec"]["provider"] = "gatewayapi:v1"
    return [deployment, hpa, canary]


def _route_weights(kube: KubeCluster, ns: str, name: str) -> tuple[int, int] | None:
    route = kube.get(*HTTP_ROUTE, ns, name)
    if route is None:
        return None
    rule = route["spec"]["rules"][0]
    weights = {b["name"]: b["weight"] for b in rule["backendRefs"]}
    return weights[f"{name}-primary"], weights[f"{name}-canary"]


def test_a_gateway_api_canary_promotes_a_good_release_and_rolls_back_a_bad_one(
    kube: KubeCluster, namespace: str, meshsim: MeshSim, prometheus: Prometheus, git_repo: RepoUrls
) -> None:
    ns, repo = namespace, git_repo.path
    create_all(kube, [metric_template(ns, "error-rate", prometheus.url, ERROR_RATE)])
    create_all(kube, _gateway_app(ns, "good", explicit=False))
    create_all(kube, _gateway_app(ns, "bad", explicit=True))
    passes = Passes.build(kube, ns, repo, prometheus, ["good", "bad"], mesh_provider="gatewayapi:v1")
    passes.until({"good": "Initialized", "bad": "Initialized"})
    for name in ("good", "bad"):
        assert _route_weights(kube, ns, name) == (100, 0)
        for api_version, kind in ISTIO:
            assert kube.get(api_version, kind, ns, name) is None, f"no {kind} under Gateway API"
    set_app_image(kube, ns, "good", "6.0.1")
    set_app_image(kube, ns, "bad", "6.0.2")
    seen: dict[str, set[int]] = {"good": set(), "bad": set()}

    def mesh_weight(name: str) -> int | None:
        for route in meshsim.routes():
            weights = {d.workload: d.weight for d in route.destinations if route.namespace == ns}
            if name in weights and f"{name}-primary" in weights:
                return weights[name]
        return None

    def check(_: int) -> None:
        """The live HTTPRoute routes each Canary's status weight; the mesh splits by it."""
        for name in ("good", "bad"):
            st = status(kube, ns, name)
            w = int(st.get("canaryWeight", 0))
            seen[name].add(w)
            assert _route_weights(kube, ns, name) == (100 - w, w), st
            if st.get("phase") == "Progressing" and w > 0:
                wait_for(f"the mesh to route {w}% to {name}", lambda n=name, w=w: mesh_weight(n) == w, 30)

    phases = passes.until_settled(before=check)
    check(-1)

    assert phases == {"good": "Succeeded", "bad": "Failed"}, passes.subjects()
    assert {25, 50} <= seen["good"] and 25 in seen["bad"], seen
    good = [m for _, m in canary_events(kube, ns, "good")]
    assert f"Promotion completed! Scaling down good.{ns}" in good, good
    assert primary_image(kube, ns, "good").endswith(":6.0.1")
    bad = [m for _, m in canary_events(kube, ns, "bad")]
    assert f"Canary failed! Scaling down bad.{ns}" in bad, bad
    assert any(m.startswith(f"Halt bad.{ns} advancement error-rate ") for m in bad), bad
    assert primary_image(kube, ns, "bad").endswith(":6.0.0")
    assert _route_weights(kube, ns, "good") == (100, 0) and _route_weights(kube, ns, "bad") == (100, 0)
    # The config repo holds the HTTPRoute of every step, never an Istio object.
    for name in ("good", "bad"):
        steps = read_history(repo, f"{ns}/{name}")
        assert steps, name
        git = pygit2.Repository(str(repo))
        files = {
            str(e.name)
            for step in steps
            for e in git[step.commit].peel(pygit2.Commit).tree / f"local/{ns}/{name}"  # type: ignore[union-attr]
        }
        assert f"httproute-{name}.yaml" in files, files
        assert not [f for f in files if f.startswith(("virtualservice-", "destinationrule-"))], files
