"""KubeCluster's observe side against the testbed's real API server.

Canaries listed and watched, tracked configs fetched by name, Deployments
judged by Flagger's readiness rules while the real deployment controller
rolls them, live route weights read back, and an API server outage surfacing
as a TemporaryError rather than an ApiException or a urllib3 error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gitflagger.adapters.kube import (
    KubeCluster,
    Unavailable,
    WatchExpired,
    deployment_health,
)
from gitflagger.errors import TemporaryError
from gitflagger.model.status import parse_time
from gitflagger.render.routers.istio import route_weights
from tests.integration.test_kube_support import (
    IMAGE,
    canary,
    config_map,
    create,
    deployment,
    ensure_canary_crd,
    routing,
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


def live_deployment(kube: KubeCluster, ns: str, name: str) -> dict[str, Any]:
    obj = kube.get("apps/v1", "Deployment", ns, name)
    assert obj is not None, f"deployment {ns}/{name} is gone"
    return obj


def settled(obj: dict[str, Any]) -> bool:
    """The deployment controller has seen the latest spec."""
    return bool(obj["status"].get("observedGeneration", 0) >= obj["metadata"]["generation"])


def deployment_when(
    kube: KubeCluster, ns: str, name: str, condition: Callable[[dict[str, Any]], object]
) -> Callable[[], dict[str, Any] | None]:
    """A probe for :func:`wait_for`: the live Deployment once ``condition`` holds for it."""

    def probe() -> dict[str, Any] | None:
        obj = live_deployment(kube, ns, name)
        return obj if condition(obj) else None

    return probe


def test_list_and_watch_see_a_canary_added_modified_and_deleted(kube: KubeCluster, namespace: str) -> None:
    ensure_canary_crd(kube)
    items, version = kube.list_canaries(namespace)
    assert items == [] and version

    created = create(kube, canary(namespace))
    listed, _ = kube.list_canaries(namespace)
    kube.patch_canary_status(created, {"phase": "Initializing"})
    kube.delete("flagger.app/v1beta1", "Canary", namespace, "podinfo")

    seen: list[tuple[str, dict[str, Any]]] = []
    with kube.watch_canaries(namespace, version, timeout_seconds=20) as watch:
        for kind, obj in watch:
            seen.append((kind, obj))
            if kind == "DELETED":
                break

    assert [(i["apiVersion"], i["kind"], i["metadata"]["name"]) for i in listed] == [
        ("flagger.app/v1beta1", "Canary", "podinfo")
    ]
    assert [kind for kind, _ in seen] == ["ADDED", "MODIFIED", "DELETED"]
    assert seen[1][1]["status"]["phase"] == "Initializing"
    assert all(obj["kind"] == "Canary" and "managedFields" not in obj["metadata"] for _, obj in seen)
    assert watch.resource_version == seen[-1][1]["metadata"]["resourceVersion"]


def test_watching_from_a_compacted_resource_version_is_watch_expired(
    kube: KubeCluster, namespace: str
) -> None:
    ensure_canary_crd(kube)

    with (
        pytest.raises(WatchExpired) as caught,
        kube.watch_canaries(namespace, "1", timeout_seconds=10) as watch,
    ):
        next(watch)

    assert isinstance(caught.value, TemporaryError)


def test_get_configs_fetches_each_by_name_and_leaves_out_missing_ones(
    kube: KubeCluster, namespace: str
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "data": {"password": "aHVudGVyMg=="},
    }
    kube.apply([config_map(namespace, "settings", {"color": "blue"}), secret])

    configmaps, secrets = kube.get_configs(
        namespace,
        [("configmap", "settings"), ("secret", "db"), ("configmap", "absent"), ("configmap", "settings")],
    )

    assert {name: cm["data"] for name, cm in configmaps.items()} == {"settings": {"color": "blue"}}
    assert {name: s["data"] for name, s in secrets.items()} == {"db": {"password": "aHVudGVyMg=="}}
    assert "managedFields" not in configmaps["settings"]["metadata"]


def test_deployment_health_follows_a_real_rolling_update(kube: KubeCluster, namespace: str) -> None:
    kube.apply([deployment(namespace, "web", replicas=2, image=f"{IMAGE}:6.0.0")])
    wait_for("web ready", lambda: deployment_health(live_deployment(kube, namespace, "web")).ready)

    # A new image whose pods are not available before the test is over (minReadySeconds): the
    # rollout stalls after surging one new pod, because maxUnavailable is 0.
    stalled = deployment(namespace, "web", replicas=2, image=f"{IMAGE}:6.0.1")
    stalled["spec"]["minReadySeconds"] = 300
    kube.apply([stalled])
    obj = wait_for(
        "the rollout to stall with one updated replica",
        deployment_when(
            kube, namespace, "web", lambda d: settled(d) and d["status"].get("updatedReplicas") == 1
        ),
    )
    health = deployment_health(obj)
    assert not health.ready and not health.deadline_exceeded
    assert health.message == "waiting for rollout to finish: 1 out of 2 new replicas have been updated"

    kube.apply([deployment(namespace, "web", replicas=2, image=f"{IMAGE}:6.0.1")])
    obj = wait_for(
        "web ready again",
        deployment_when(kube, namespace, "web", lambda d: deployment_health(d).ready),
    )
    assert obj["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:6.0.1"
    assert obj["status"]["updatedReplicas"] == obj["status"]["availableReplicas"] == 2
    assert deployment_health(kube.get("apps/v1", "Deployment", namespace, "absent")).exists is False


def test_deployment_health_reports_unavailability_and_the_ready_threshold(
    kube: KubeCluster, namespace: str
) -> None:
    unavailable = deployment(namespace, "slow", replicas=2)
    unavailable["spec"]["minReadySeconds"] = 300  # pods run and are ready, not available for 5 minutes
    kube.apply([unavailable])

    def available_false(d: dict[str, Any]) -> dict[str, Any] | None:
        return next(
            (
                c
                for c in d["status"].get("conditions", [])
                if c["type"] == "Available" and c["status"] == "False"
            ),
            None,
        )

    obj = wait_for(
        "two ready, unavailable replicas",
        deployment_when(
            kube,
            namespace,
            "slow",
            lambda d: settled(d) and d["status"].get("readyReplicas") == 2 and available_false(d),
        ),
    )
    condition = available_false(obj)
    assert condition is not None

    health = deployment_health(obj)
    relaxed = deployment_health(obj, ready_threshold=0)

    assert (
        health.message
        == "waiting for rollout to finish: 0 of 2 (readyThreshold 100%) updated replicas are available"
    )
    assert health.unavailable_since == parse_time(condition["lastTransitionTime"])
    assert relaxed.ready and relaxed.unavailable_since == health.unavailable_since


def test_route_weights_are_read_back_from_the_live_virtual_service(kube: KubeCluster, namespace: str) -> None:
    kube.apply(routing(namespace, "podinfo", 70, 30))

    live = kube.get("networking.istio.io/v1beta1", "VirtualService", namespace, "podinfo")

    assert route_weights(live, "podinfo-primary", "podinfo-canary") == (70, 30)
    missing = kube.get("networking.istio.io/v1beta1", "VirtualService", namespace, "absent")
    assert route_weights(missing, "absent-primary", "absent-canary") is None


def test_an_api_server_outage_is_a_temporary_error(
    kube: KubeCluster, cluster: Cluster, namespace: str
) -> None:
    ensure_canary_crd(kube)
    kube.apply([config_map(namespace, "settings", {"k": "v"})])
    _, version = kube.list_canaries(namespace)
    calls = {
        "get": lambda: kube.get("v1", "ConfigMap", namespace, "settings"),
        "list": lambda: kube.list_canaries(namespace),
        "watch": lambda: kube.watch_canaries(namespace, version, timeout_seconds=5),
        "apply": lambda: kube.apply([config_map(namespace, "settings", {"k": "w"})]),
        "status": lambda: kube.patch_canary_status(canary(namespace), {"phase": "Waiting"}),
        "event": lambda: kube.emit_event(canary(namespace), "New revision detected podinfo." + namespace),
    }

    cluster.stop_apiserver()
    try:
        failures: dict[str, BaseException] = {}
        for name, call in calls.items():
            with pytest.raises(TemporaryError) as caught:
                call()
            failures[name] = caught.value
    finally:
        cluster.start_apiserver()

    assert {name: type(exc) for name, exc in failures.items()} == dict.fromkeys(calls, Unavailable)
    assert all("API server unreachable" in str(exc) and "\n" not in str(exc) for exc in failures.values())
    live = wait_for(
        "the API server to answer again", lambda: kube.get("v1", "ConfigMap", namespace, "settings")
    )
    assert live["data"] == {"k": "v"}
