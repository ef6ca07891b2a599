"""A DaemonSet target and a Deployment with a KEDA ScaledObject, each promoted on the testbed.

The API server serves KEDA's own ScaledObject CRD (from the
``github.com/kedacore/keda/v2`` module, tests/testbed/keda.py), so the primary
ScaledObject and the target's pause are validated by KEDA's schema; KEDA's
operator does not run here, so nothing scales on the ScaledObjects' triggers and
the test checks the objects and the target's replicas gitflagger sets. The
testbed's kube-controller-manager runs its DaemonSet controller and kwok runs a
pod on each of the two nodes, so the DaemonSet primary and canary have real
pods whose readiness comes back in ``numberAvailable``/``updatedNumberScheduled``.

The controller runs its own passes (:meth:`Controller.run_pass`, with watch
caches as ``gitflagger run`` has them) as soon as the cluster has rolled out
what the last pass applied. The Canaries carry no metrics or webhooks, so a
release is judged on readiness alone: what is tested is the target handling,
not the analysis (tests/integration/test_analysis_e2e.py does that).
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import GitRecorder
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.controller import Controller
from gitflagger.engine.reconcile import Context
from gitflagger.render.daemonset import SCALE_TO_ZERO_KEY
from gitflagger.render.keda import PAUSED_REPLICAS
from tests.integration.analysis_support import canary_events, create_all, phase
from tests.integration.controller_support import IMAGE, ROOT, kube, settled, wait_for  # noqa: F401 (fixture)

pytestmark = pytest.mark.testbed

KEDA = ("keda.sh/v1alpha1", "ScaledObject")
NODES = 2
"""The testbed's kwok nodes: a DaemonSet runs one pod on each."""


def _fixture(*parts: str, namespace: str) -> dict[str, Any]:
    (doc,) = load_documents([ROOT / "fixtures" / Path(*parts)])
    doc = copy.deepcopy(doc)
    doc["metadata"]["namespace"] = namespace
    return doc


def _quick(canary: dict[str, Any]) -> dict[str, Any]:
    """A 10s interval, one step to 50%, no metrics: judged on readiness alone."""
    canary["spec"]["analysis"] = {"interval": "10s", "threshold": 1, "stepWeight": 50, "maxWeight": 50}
    canary["spec"]["progressDeadlineSeconds"] = 600
    return canary


def _rolled_out(kube: KubeCluster, ns: str) -> bool:
    """Every Deployment and DaemonSet of ``ns`` runs what its spec says."""
    for ds in kube.list_objects("apps/v1", "DaemonSet", ns):
        status = ds.get("status") or {}
        desired = status.get("desiredNumberScheduled", 0)
        if status.get("observedGeneration", 0) < ds["metadata"]["generation"]:
            return False
        if status.get("updatedNumberScheduled", 0) < desired or status.get("numberAvailable", 0) < desired:
            return False
        if status.get("currentNumberScheduled", 0) != desired:
            return False
    return settled(kube, ns)


def _controller(kube: KubeCluster, ns: str, repo: Path) -> Controller:
    recorder = GitRecorder(repo)
    # No metric is analysed: the metrics server is never asked, and nothing listens there.
    ctx = Context(kube, recorder, "http://127.0.0.1:9", intents=IntentStore(recorder.repo))
    controller = Controller(kube, ctx, namespace=ns)
    controller.sync()
    return controller


def _until(
    kube: KubeCluster,
    ns: str,
    controller: Controller,
    want: str,
    limit: int = 12,
    before: Callable[[], None] = lambda: None,
) -> list[str]:
    """Passes, each once the cluster rolled out the last one, until the Canary's phase is ``want``."""
    phases = []
    for _ in range(limit):
        wait_for("the workloads to roll out", lambda: _rolled_out(kube, ns), 180)
        before()
        controller.sync()
        controller.run_pass(everything=True)
        phases.append(phase(kube, ns, "podinfo"))
        if phases[-1] == want:
            return phases
    raise AssertionError(f"never reached {want}: {phases}")


def _pods(kube: KubeCluster, ns: str, app: str) -> int:
    """Pods of ``app`` that are Running and not being deleted."""
    return len(
        [
            p
            for p in kube.list_objects("v1", "Pod", ns, label_selector=f"app={app}")
            if (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")
        ]
    )


def _set_image(kube: KubeCluster, kind: str, ns: str, tag: str) -> None:
    resource = kube.resources.resolve("apps/v1", kind)
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": f"{IMAGE}:{tag}"}]}}}
    }
    kube.transport.request(
        "PATCH",
        resource.path(ns, "podinfo"),
        body=patch,
        content_type="application/strategic-merge-patch+json",
        what="set image",
    )


@pytest.fixture
def cached(kube: KubeCluster, namespace: str) -> KubeCluster:
    """``kube`` with the controller's watch caches of ``namespace``, as ``gitflagger run`` has them
    (``kube`` stops them when it closes)."""
    caches = kube.start_caches(namespace)
    wait_for("the caches to sync", lambda: caches.synced)
    return kube


def test_a_daemonset_target_promotes_on_the_testbed(
    cached: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    kube, ns = cached, namespace
    daemonset = _fixture("daemonset", "daemonset.yaml", namespace=ns)
    del daemonset["spec"]["minReadySeconds"]  # kwok's pods are ready at once; no need to wait 5s a node
    create_all(kube, [daemonset, _quick(_fixture("daemonset", "canary.yaml", namespace=ns))])
    controller = _controller(kube, ns, tmp_path / "config.git")

    _until(kube, ns, controller, "Initialized")
    primary = kube.get("apps/v1", "DaemonSet", ns, "podinfo-primary")
    assert primary is not None and kube.get("apps/v1", "Deployment", ns, "podinfo-primary") is None
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    wait_for("a primary pod on each node", lambda: _pods(kube, ns, "podinfo-primary") == NODES, 120)
    wait_for("the target's pods to leave every node", lambda: _pods(kube, ns, "podinfo") == 0, 120)
    target = kube.get("apps/v1", "DaemonSet", ns, "podinfo")
    assert target is not None
    assert target["spec"]["template"]["spec"]["nodeSelector"][SCALE_TO_ZERO_KEY] == "true"

    _set_image(kube, "DaemonSet", ns, "6.0.1")
    canary_pods: list[int] = []
    phases = _until(
        kube, ns, controller, "Succeeded", before=lambda: canary_pods.append(_pods(kube, ns, "podinfo"))
    )

    assert "Progressing" in phases and "Promoting" in phases, phases
    assert NODES in canary_pods, f"the canary ran a pod on each node during the analysis: {canary_pods}"
    primary = kube.get("apps/v1", "DaemonSet", ns, "podinfo-primary")
    assert primary is not None
    pod_spec = primary["spec"]["template"]["spec"]
    assert pod_spec["containers"][0]["image"] == f"{IMAGE}:6.0.1"
    assert pod_spec["nodeSelector"] == {"kubernetes.io/os": "linux"}, "the hiding never reaches the primary"
    wait_for("the target's pods to leave every node again", lambda: _pods(kube, ns, "podinfo") == 0, 120)
    wait_for("the promoted primary on each node", lambda: _pods(kube, ns, "podinfo-primary") == NODES, 120)
    messages = [m for _, m in canary_events(kube, ns, "podinfo")]
    for text in (
        f"New revision detected! Scaling up podinfo.{ns}",
        f"Copying podinfo.{ns} template spec to podinfo-primary.{ns}",
        f"Promotion completed! Scaling down podinfo.{ns}",
    ):
        assert text in messages, messages
    condition = {
        c["type"]: c for c in kube.get("flagger.app/v1beta1", "Canary", ns, "podinfo")["status"]["conditions"]
    }
    assert condition["Promoted"]["message"] == "Canary analysis completed successfully, promotion finished."


def test_a_deployment_with_a_scaledobject_promotes_on_the_testbed(
    cached: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    kube, ns = cached, namespace
    deployment = _fixture("podinfo", "deployment.yaml", namespace=ns)
    deployment["spec"]["minReadySeconds"] = 0
    so = _fixture("keda", "scaledobject.yaml", namespace=ns)
    canary = _quick(_fixture("keda", "canary.yaml", namespace=ns))
    create_all(kube, [deployment, so, canary])
    controller = _controller(kube, ns, tmp_path / "config.git")

    def target_so() -> dict[str, Any]:
        obj = kube.get(*KEDA, ns, "podinfo-so")
        assert obj is not None
        return obj

    def target_replicas() -> int:
        obj = kube.get("apps/v1", "Deployment", ns, "podinfo")
        assert obj is not None
        return int(obj["spec"]["replicas"])

    _until(kube, ns, controller, "Initialized")
    primary_so = kube.get(*KEDA, ns, "podinfo-so-primary")
    assert primary_so is not None, "the API server took the primary ScaledObject (KEDA's schema)"
    assert primary_so["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "podinfo-primary",
    }
    (trigger,) = primary_so["spec"]["triggers"]
    assert trigger["metadata"]["query"] == canary["spec"]["autoscalerRef"]["primaryScalerQueries"]["requests"]
    assert target_so()["metadata"]["annotations"][PAUSED_REPLICAS] == "0"
    assert PAUSED_REPLICAS not in (primary_so["metadata"].get("annotations") or {})
    assert target_replicas() == 0

    _set_image(kube, "Deployment", ns, "6.0.1")
    during: list[tuple[str, bool, int]] = []

    def note() -> None:
        paused = PAUSED_REPLICAS in (target_so()["metadata"].get("annotations") or {})
        during.append((phase(kube, ns, "podinfo"), paused, target_replicas()))

    phases = _until(kube, ns, controller, "Succeeded", before=note)
    assert "Promoting" in phases, phases
    assert ("Progressing", False, 1) in during, f"resumed and scaled to minReplicaCount: {during}"
    assert target_so()["metadata"]["annotations"][PAUSED_REPLICAS] == "0", "paused again after promotion"
    assert target_replicas() == 0
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary is not None and primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
        ":6.0.1"
    )
