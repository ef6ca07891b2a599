"""KubeCluster.apply, scale and delete against the testbed's real API server.

What DESIGN §5 promises: server-side apply as field manager ``gitflagger`` in
dependency order; a server-side dry-run first and a real apply only for what
differs, so a second apply writes nothing; ``dry_run`` never writes; an HPA's
``spec.replicas`` is never taken; only gitflagger's (or a Canary's) objects
are forced.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.kube import ApplyConflict, KubeCluster
from gitflagger.errors import PermanentError
from gitflagger.render import Manifest
from tests.integration.test_kube_support import (
    IMAGE,
    appliers,
    canary,
    config_map,
    create,
    deployment,
    ensure_canary_crd,
    hpa,
    raw,
    routing,
    service,
    wait_for,
)
from tests.testbed.cluster import Cluster

pytestmark = pytest.mark.testbed


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client(), qps=200, burst=200)
    try:
        yield kc
    finally:
        kc.close()


def test_apply_creates_every_object_in_dependency_order_as_gitflagger(
    kube: KubeCluster, namespace: str
) -> None:
    manifests: list[Manifest | dict[str, Any]] = [
        *routing(namespace, "podinfo", 100, 0),
        deployment(namespace, "podinfo-primary"),
        Manifest(service(namespace, "podinfo")),
        Manifest(config_map(namespace, "podinfo-config-primary", {"color": "blue"})),
    ]

    results = kube.apply(manifests)

    assert [(r.kind, r.name) for r in results] == [
        ("ConfigMap", "podinfo-config-primary"),
        ("Service", "podinfo"),
        ("Deployment", "podinfo-primary"),
        ("DestinationRule", "podinfo-canary"),
        ("DestinationRule", "podinfo-primary"),
        ("VirtualService", "podinfo"),
    ]
    assert all(r.changed and r.applied and r.live_before is None for r in results)
    paths = [
        f"/api/v1/namespaces/{namespace}/configmaps/podinfo-config-primary",
        f"/api/v1/namespaces/{namespace}/services/podinfo",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/podinfo-primary",
        f"/apis/networking.istio.io/v1beta1/namespaces/{namespace}/virtualservices/podinfo",
    ]
    for path in paths:
        assert "gitflagger" in appliers(raw(kube, path)), path
    vs = kube.get("networking.istio.io/v1beta1", "VirtualService", namespace, "podinfo")
    assert vs is not None and "managedFields" not in vs["metadata"]
    assert vs["spec"]["http"][0]["route"][0]["weight"] == 100


def test_applying_the_same_manifests_again_changes_and_writes_nothing(
    kube: KubeCluster, namespace: str
) -> None:
    manifests = [
        config_map(namespace, "app-primary", {"a": "1"}),
        service(namespace, "app"),
        deployment(namespace, "app-primary", replicas=2),
        *routing(namespace, "app", 90, 10),
    ]
    kube.apply(manifests)
    requests, writes = kube.requests_made, kube.writes_made

    again = kube.apply(manifests)

    assert [r.changed for r in again] == [False] * len(manifests)
    assert [r.applied for r in again] == [False] * len(manifests)
    assert kube.writes_made == writes
    # Per object one GET and one server-side dry-run; plus one HPA list because the
    # Deployment still sets spec.replicas and no HPA for it is in the batch.
    assert kube.requests_made - requests == 2 * len(manifests) + 1
    assert all(r.live_before == r.desired_after for r in again)


def test_dry_run_shows_the_change_and_never_touches_live(kube: KubeCluster, namespace: str) -> None:
    kube.apply([deployment(namespace, "web", image=f"{IMAGE}:6.0.0"), *routing(namespace, "web", 100, 0)])
    writes = kube.writes_made

    results = kube.apply(
        [
            deployment(namespace, "web", image=f"{IMAGE}:6.0.1"),
            *routing(namespace, "web", 80, 20),
            config_map(namespace, "new-config", {"k": "v"}),
        ],
        dry_run=True,
    )

    changed = {(r.kind, r.name): r for r in results if r.changed}
    assert set(changed) == {("Deployment", "web"), ("VirtualService", "web"), ("ConfigMap", "new-config")}
    assert not any(r.applied for r in results)
    dep = changed["Deployment", "web"]
    assert dep.live_before is not None
    assert dep.live_before["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:6.0.0"
    assert dep.desired_after["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:6.0.1"
    assert changed["ConfigMap", "new-config"].live_before is None
    assert kube.writes_made == writes
    live = kube.get("apps/v1", "Deployment", namespace, "web")
    assert live is not None and live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:6.0.0"
    vs = kube.get("networking.istio.io/v1beta1", "VirtualService", namespace, "web")
    assert vs is not None and [r["weight"] for r in vs["spec"]["http"][0]["route"]] == [100, 0]
    assert kube.get("v1", "ConfigMap", namespace, "new-config") is None


def test_replicas_of_a_deployment_with_an_hpa_are_never_taken(kube: KubeCluster, namespace: str) -> None:
    # The manifest says 1; the HPA controller (really running) raises it to its minimum of 3.
    manifests = [deployment(namespace, "api", replicas=1), hpa(namespace, "api", "api", min_replicas=3)]
    kube.apply(manifests)
    deployments = f"/apis/apps/v1/namespaces/{namespace}/deployments/api"
    wait_for("the HPA to scale api to 3", lambda: raw(kube, deployments)["spec"]["replicas"] == 3)

    again = kube.apply(manifests)  # the HPA is in the batch
    alone = kube.apply([deployment(namespace, "api", replicas=1)])  # the HPA is found live
    hinted = kube.apply([deployment(namespace, "api", replicas=1)], autoscaled=["api"])

    live = raw(kube, deployments)
    assert live["spec"]["replicas"] == 3
    assert "f:replicas" not in appliers(live)["gitflagger"]["fieldsV1"]["f:spec"]
    assert [r.changed for r in again + alone + hinted] == [False, False, False, False]


def test_adding_an_hpa_later_keeps_the_live_replicas(kube: KubeCluster, namespace: str) -> None:
    """gitflagger applied spec.replicas before; leaving it out must not reset it to 1 (SSA's default)."""
    kube.apply([deployment(namespace, "api", replicas=3)])
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/api"
    autoscaled = [deployment(namespace, "api", replicas=None), hpa(namespace, "api", "api", min_replicas=2)]

    results = kube.apply(autoscaled)

    live = raw(kube, path)
    assert live["spec"]["replicas"] == 3
    assert "f:replicas" not in appliers(live)["gitflagger"]["fieldsV1"]["f:spec"]
    assert "f:replicas" in appliers(live)["gitflagger-handover"]["fieldsV1"]["f:spec"]
    assert [(r.kind, r.changed) for r in results] == [("Deployment", True), ("HorizontalPodAutoscaler", True)]
    writes = kube.writes_made
    assert [r.changed for r in kube.apply(autoscaled)] == [False, False]
    assert kube.writes_made == writes


def test_scale_really_scales_the_deployment(kube: KubeCluster, namespace: str) -> None:
    kube.apply([deployment(namespace, "worker", replicas=1)])

    kube.scale(namespace, "worker", 3)
    wait_for(
        "3 ready replicas",
        lambda: (
            (kube.get("apps/v1", "Deployment", namespace, "worker") or {})
            .get("status", {})
            .get("readyReplicas")
            == 3
        ),
    )
    pods = kube.list_objects("v1", "Pod", namespace, label_selector="app=worker")
    assert len([p for p in pods if p["status"].get("phase") == "Running"]) == 3

    kube.scale(namespace, "worker", 0)
    wait_for(
        "no pods left", lambda: not kube.list_objects("v1", "Pod", namespace, label_selector="app=worker")
    )
    live = kube.get("apps/v1", "Deployment", namespace, "worker")
    assert live is not None and live["spec"]["replicas"] == 0


def test_results_never_carry_secret_values(kube: KubeCluster, namespace: str) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db-primary", "namespace": namespace},
        "type": "Opaque",
        "data": {"password": "aHVudGVyMg=="},
    }

    (result,) = kube.apply([Manifest(secret, secret=True)])

    assert result.changed and result.desired_after["data"]["password"].startswith("sha256:")
    assert "aHVudGVyMg==" not in repr(result)
    live = kube.get("v1", "Secret", namespace, "db-primary")
    assert live is not None and live["data"] == {"password": "aHVudGVyMg=="}


def test_an_object_of_another_manager_is_not_forced(kube: KubeCluster, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/settings"
    kube.transport.request(
        "PATCH",
        path,
        what="apply as someone else",
        query=[("fieldManager", "someone-else")],
        body=config_map(namespace, "settings", {"mode": "theirs"}),
        content_type="application/apply-patch+yaml",
    )

    with pytest.raises(ApplyConflict) as caught:
        kube.apply([config_map(namespace, "settings", {"mode": "ours"})])

    assert isinstance(caught.value, PermanentError)
    assert "someone-else" in str(caught.value)
    assert (kube.get("v1", "ConfigMap", namespace, "settings") or {})["data"] == {"mode": "theirs"}


def test_an_object_a_canary_controls_is_taken_over(kube: KubeCluster, namespace: str) -> None:
    """Objects Flagger created (owned by the Canary) are forced, so a migration to gitflagger just works."""
    ensure_canary_crd(kube)
    stored = create(kube, canary(namespace))
    owner = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "name": "podinfo",
        "uid": stored["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    flaggers = config_map(namespace, "podinfo-config-primary", {"color": "blue"})
    flaggers["metadata"]["ownerReferences"] = [owner]
    kube.transport.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/configmaps/podinfo-config-primary",
        what="apply as flagger",
        query=[("fieldManager", "flagger")],
        body=flaggers,
        content_type="application/apply-patch+yaml",
    )
    ours = config_map(namespace, "podinfo-config-primary", {"color": "green"})
    ours["metadata"]["ownerReferences"] = [owner]

    (result,) = kube.apply([ours])

    assert result.changed and result.applied
    assert (kube.get("v1", "ConfigMap", namespace, "podinfo-config-primary") or {})["data"] == {
        "color": "green"
    }


def test_delete_is_fine_with_an_object_already_gone(kube: KubeCluster, namespace: str) -> None:
    kube.apply([config_map(namespace, "old", {"k": "v"})])

    kube.delete("v1", "ConfigMap", namespace, "old")
    kube.delete("v1", "ConfigMap", namespace, "old")

    assert kube.get("v1", "ConfigMap", namespace, "old") is None
