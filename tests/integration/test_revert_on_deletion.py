"""``revertOnDeletion`` on the testbed: a Canary deleted mid-rollout gives the traffic back to its target.

The controller (in process, against the real API server; the deployment
controller and kwok roll the pods; the kube-controller-manager's garbage
collector deletes what the Canary owned) steps a release to a canary weight,
then the Canary is deleted. What must be left, as Flagger's finalizer leaves
it: the target scaled back up to the primary's replicas, the apex Service
selecting the target's pods and the route sending all traffic to it; the
primary gone with the Canary. Each finalization step is a commit of its own,
pushed to the testbed git server (a remote config repo) before it is carried out.
Istio (VirtualService) and Gateway API (HTTPRoute) both.
"""

# ruff: noqa: F811 -- the kube fixture is imported from controller_support and named as a parameter
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.controller import Controller
from gitflagger.engine.reconcile import Context
from gitflagger.engine.telemetry import Telemetry
from gitflagger.model.canary import V1BETA1
from tests.integration.config_repo_support import credential_files, http_remote
from tests.integration.config_repo_support import recorder as remote_recorder
from tests.integration.controller_support import ROOT, kube, set_image, wait_for  # noqa: F401 (kube)
from tests.integration.test_kube_support import create
from tests.testbed.gitserver import GitServer, RepoUrls

pytestmark = pytest.mark.testbed

ROUTES = {
    "istio": ("networking.istio.io/v1beta1", "VirtualService"),
    "gatewayapi:v1": ("gateway.networking.k8s.io/v1", "HTTPRoute"),
}


def _objects(namespace: str, provider: str) -> list[dict[str, Any]]:
    """podinfo (2 replicas, no HPA) and a Canary with revertOnDeletion and no metrics: it advances alone."""
    target, canary = (
        copy.deepcopy(d) for d in load_documents([ROOT / "fixtures/podinfo/deployment.yaml",
                                                  ROOT / "fixtures/podinfo/canary-v1beta1.yaml"])
    )
    target["metadata"]["namespace"] = canary["metadata"]["namespace"] = namespace
    target["spec"]["replicas"] = 2
    spec = canary["spec"]
    spec.pop("autoscalerRef", None)
    spec["provider"] = provider
    spec["revertOnDeletion"] = True
    spec["service"] = {"port": 9898, "hosts": ["app.example.com"]}
    if provider.startswith("gatewayapi"):
        spec["service"]["gatewayRefs"] = [{"name": "public", "namespace": "gateways"}]
    spec["analysis"] = {"interval": "10s", "threshold": 5, "maxWeight": 50, "stepWeight": 10}
    return [target, canary]


def _pass(c: Controller) -> None:
    c.sync()
    for outcome in c.run_pass(everything=True):
        assert not outcome.error, outcome.error


def _status(kube: KubeCluster, ns: str) -> dict[str, Any]:
    obj = kube.get(V1BETA1, "Canary", ns, "podinfo")
    return (obj or {}).get("status") or {}


@pytest.mark.parametrize("provider", list(ROUTES))
def test_deleting_a_canary_mid_rollout_gives_the_workload_back(
    kube: KubeCluster,
    namespace: str,
    tmp_path: Path,
    provider: str,
    git_server: GitServer,
    git_repo: RepoUrls,
) -> None:
    remote = http_remote(git_server, git_repo, credential_files(git_server, tmp_path / "creds"))
    recorder = remote_recorder(remote, tmp_path / "cache")
    ctx = Context(kube, recorder, "http://127.0.0.1:1", telemetry=Telemetry())
    c = Controller(kube, ctx, namespace=namespace)
    for obj in _objects(namespace, provider):
        create(kube, obj)

    def stepped_to(check: Any) -> Any:
        _pass(c)
        return check(_status(kube, namespace))

    initialized = lambda: stepped_to(lambda s: s.get("phase") == "Initialized")  # noqa: E731
    wait_for("initialized", initialized, timeout=180, every=1)
    set_image(kube, namespace, "6.0.1")
    wait_for("a canary weight", lambda: stepped_to(lambda s: s.get("canaryWeight", 0) >= 10), timeout=180)
    during = kube.get("apps/v1", "Deployment", namespace, "podinfo")
    assert during is not None and during["spec"]["replicas"] == 1  # Flagger's ScaleFromZero

    kube.delete(V1BETA1, "Canary", namespace, "podinfo")
    wait_for("the finalizer to let go", lambda: stepped_to(lambda s: not s) or None, timeout=180)
    assert kube.get(V1BETA1, "Canary", namespace, "podinfo") is None

    target = kube.get("apps/v1", "Deployment", namespace, "podinfo")
    assert target is not None and target["spec"]["replicas"] == 2
    # A fresh testbed's garbage collector needed 88 s here to pick up the Canary kind; warm, under 1 s.
    wait_for("the primary to be garbage-collected",
             lambda: kube.get("apps/v1", "Deployment", namespace, "podinfo-primary") is None, timeout=300)
    wait_for("the canary Service to be garbage-collected",
             lambda: kube.get("v1", "Service", namespace, "podinfo-canary") is None, timeout=60)
    apex = kube.get("v1", "Service", namespace, "podinfo")
    assert apex is not None, "the apex Service was garbage-collected"
    assert apex["spec"]["selector"] == {"app": "podinfo"}
    assert not apex["metadata"].get("ownerReferences")
    route = kube.get(*ROUTES[provider], namespace, "podinfo")
    assert route is not None, "the route was garbage-collected"
    assert not route["metadata"].get("ownerReferences")
    if provider == "istio":
        assert route["spec"]["hosts"] == ["app.example.com", "podinfo"]
        everything = [{"destination": {"host": "podinfo"}, "weight": 100}]
        assert [r["route"] for r in route["spec"]["http"]] == [everything]
    else:
        assert route["spec"]["hostnames"] == ["app.example.com"]
        backends = [[(b["name"], b["weight"]) for b in r["backendRefs"]] for r in route["spec"]["rules"]]
        assert backends == [[("podinfo", 100)]]
    subjects = [h.subject for h in read_history(git_repo.path, f"{namespace}/podinfo")][:2]  # the remote's
    assert subjects == [
        f"podinfo.{namespace}: terminated, all traffic to podinfo",
        f"podinfo.{namespace}: terminating, scale podinfo back up to 2",
    ]
