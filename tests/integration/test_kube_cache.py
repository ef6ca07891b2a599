"""KubeCluster's watch caches and cached apply against the testbed's real API server.

What the controller relies on: reads served from caches that follow creates,
updates and deletes; a watch broken by an API server restart resumes (or
lists again); 410 Gone lists again and forgets what was deleted meanwhile;
an apply that cannot change anything sends no request, and an object edited
behind our back is applied again and shows as a change (the drift the engine
reports). Every count is of requests sent, read from ``requests_made``.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.cache import ObjectCache
from gitflagger.adapters.kube.cluster import CACHED
from gitflagger.decide import Routes
from gitflagger.engine.apply import weights_mismatch
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from gitflagger.render import Manifest
from tests.integration.test_kube_support import (
    IMAGE,
    config_map,
    create,
    deployment,
    hpa,
    raw,
    routing,
    service,
    wait_for,
)
from tests.testbed.cluster import Cluster

pytestmark = pytest.mark.testbed

VS = "networking.istio.io/v1beta1"


@pytest.fixture
def admin(cluster: Cluster) -> Iterator[KubeCluster]:
    """Someone else: the user, another controller, kubectl."""
    kc = KubeCluster(cluster.kube_client(), qps=200, burst=200)
    try:
        yield kc
    finally:
        kc.close()


@pytest.fixture
def cached(cluster: Cluster, namespace: str) -> Iterator[KubeCluster]:
    """gitflagger's client with its caches started and synced, scoped to the test's namespace."""
    kc = KubeCluster(cluster.kube_client(), qps=200, burst=200)
    caches = kc.start_caches(namespace)
    try:
        wait_for("the caches to sync", lambda: caches.synced)
        assert all(c.serving for c in caches.caches.values())
        yield kc
    finally:
        kc.close()


def cache_of(kube: KubeCluster, api_version: str, kind: str) -> ObjectCache:
    assert kube.caches is not None
    return kube.caches.caches[(api_version, kind)]


def patch(kube: KubeCluster, obj: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A merge patch as a user's ``kubectl patch`` would send it (an Update, not an apply)."""
    resource = kube.resources.resolve(obj["apiVersion"], obj["kind"])
    meta = obj["metadata"]
    return kube.transport.request(
        "PATCH", resource.path(meta["namespace"], meta["name"]), body=body,
        content_type="application/merge-patch+json", what="patch as a user",
    )


def test_the_cached_kinds_are_what_a_step_reads_and_never_secrets() -> None:
    assert {(r.api_version, r.kind) for r in CACHED} == {
        ("apps/v1", "Deployment"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("v1", "Service"),
        ("v1", "ConfigMap"),
        (VS, "VirtualService"),
        (VS, "DestinationRule"),
        ("flagger.app/v1beta1", "AlertProvider"),
    }


def test_reads_follow_creates_updates_and_deletes_without_a_request(
    cached: KubeCluster, admin: KubeCluster, namespace: str
) -> None:
    created = create(admin, deployment(namespace, "web"))
    wait_for("the cache to see web", lambda: cached.get("apps/v1", "Deployment", namespace, "web"))
    patch(admin, created, {"metadata": {"labels": {"team": "checkout"}}})
    wait_for(
        "the cache to see the label",
        lambda: ((cached.get("apps/v1", "Deployment", namespace, "web") or {}).get("metadata") or {})
        .get("labels", {}).get("team") == "checkout",
    )
    requests = cached.requests_made

    live = cached.get("apps/v1", "Deployment", namespace, "web")
    missing = cached.get("apps/v1", "Deployment", namespace, "nothing-here")
    maps, secrets = cached.get_configs(namespace, [("configmap", "kube-root-ca.crt")])

    assert cached.requests_made == requests
    assert live is not None and "managedFields" not in live["metadata"]
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == f"{IMAGE}:6.0.0"
    assert missing is None
    assert "ca.crt" in maps["kube-root-ca.crt"]["data"] and secrets == {}
    live["metadata"]["labels"]["team"] = "changed by a caller"
    again = cached.get("apps/v1", "Deployment", namespace, "web")
    assert again is not None and again["metadata"]["labels"]["team"] == "checkout"

    admin.delete("apps/v1", "Deployment", namespace, "web")
    wait_for("the cache to forget web", lambda: cached.get("apps/v1", "Deployment", namespace, "web") is None)


def test_secrets_are_read_by_name_every_time(cached: KubeCluster, admin: KubeCluster, namespace: str) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
              "data": {"password": "aHVudGVyMg=="}}
    create(admin, secret)
    requests = cached.requests_made

    _, secrets = cached.get_configs(namespace, [("secret", "db")])

    assert secrets["db"]["data"] == secret["data"]
    assert cached.requests_made == requests + 1


def test_a_watch_broken_by_an_api_server_restart_resumes(
    cluster: Cluster, cached: KubeCluster, admin: KubeCluster, namespace: str
) -> None:
    create(admin, config_map(namespace, "before", {"k": "v"}))
    wait_for("the cache to see before", lambda: cached.get("v1", "ConfigMap", namespace, "before"))
    configmaps = cache_of(cached, "v1", "ConfigMap")
    watches = configmaps.watches

    cluster.stop_apiserver()
    cluster.start_apiserver()
    admin.delete("v1", "ConfigMap", namespace, "before")
    create(admin, config_map(namespace, "after", {"k": "v"}))

    wait_for("the cache to see after", lambda: cached.get("v1", "ConfigMap", namespace, "after"), 120)
    wait_for("the cache to forget before",
             lambda: cached.get("v1", "ConfigMap", namespace, "before") is None, 120)
    assert configmaps.watches > watches


def test_410_gone_lists_again_and_forgets_what_was_deleted_meanwhile(
    admin: KubeCluster, namespace: str
) -> None:
    # A custom resource: for built-in kinds a fresh testbed's API server still serves old
    # resourceVersions from etcd (nothing compacted yet), for CRDs it answers 410 at once.
    kept = admin.apply([routing(namespace, "kept", 100, 0)[0]])[0]
    assert kept.applied
    vs_cache = ObjectCache(admin.transport, admin.resources.resolve(VS, "VirtualService"), namespace)
    # A cache that last saw resourceVersion 1 (long gone), holding an object deleted since.
    ghost = copy.deepcopy(routing(namespace, "ghost", 100, 0)[0])
    ghost["metadata"]["resourceVersion"] = "1"
    vs_cache._replace([ghost], "1")
    vs_cache._version = "1"
    vs_cache.synced.set()
    stop = threading.Event()
    thread = threading.Thread(target=vs_cache.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # The watch from resourceVersion 1 is answered 410 Gone: the cache lists again.
        wait_for("a new list", lambda: vs_cache.relists == 1)
        assert vs_cache.get(namespace, "ghost") is None
        assert vs_cache.get(namespace, "kept") is not None
        admin.apply([routing(namespace, "new", 100, 0)[0]])
        wait_for("the watch after the list to see new", lambda: vs_cache.get(namespace, "new"))
    finally:
        stop.set()
        vs_cache.close_stream()
        thread.join(10)
    assert vs_cache.lists == 1 and vs_cache.watches >= 2


def step_objects(ns: str, primary: int, canary: int) -> list[Manifest | dict[str, Any]]:
    return [
        Manifest(config_map(ns, "app-config-primary", {"a": "1"})),
        Manifest(service(ns, "app")),
        Manifest(service(ns, "app-primary")),
        Manifest(deployment(ns, "app-primary", replicas=2)),
        *(Manifest(o) for o in routing(ns, "app", primary, canary)),
    ]


def test_an_unchanged_apply_sends_nothing_and_a_new_weight_one_request(
    cached: KubeCluster, namespace: str
) -> None:
    first = cached.apply(step_objects(namespace, 100, 0))
    requests, writes = cached.requests_made, cached.writes_made

    unchanged = cached.apply(step_objects(namespace, 100, 0))
    assert cached.requests_made == requests and cached.writes_made == writes
    assert [r.changed for r in unchanged] == [False] * len(first)
    assert [r.applied for r in unchanged] == [False] * len(first)
    vs = next(r for r in unchanged if r.kind == "VirtualService")
    assert vs.desired_after["spec"]["http"][0]["route"][0]["weight"] == 100

    advanced = cached.apply(step_objects(namespace, 90, 10))

    # One apply, no GET, no dry-run: the VirtualService is the only object that changed.
    assert cached.requests_made == requests + 1
    assert [(r.kind, r.name) for r in advanced if r.changed] == [("VirtualService", "app")]
    (result,) = [r for r in advanced if r.applied]
    assert result.live_before is not None
    assert result.live_before["spec"]["http"][0]["route"][0]["weight"] == 100
    assert result.desired_after["spec"]["http"][0]["route"][0]["weight"] == 90
    live = raw(cached, f"/apis/{VS}/namespaces/{namespace}/virtualservices/app")
    assert [r["weight"] for r in live["spec"]["http"][0]["route"]] == [90, 10]
    # The answer is in the cache at once: the next identical step sends nothing.
    requests = cached.requests_made
    assert not any(r.changed for r in cached.apply(step_objects(namespace, 90, 10)))
    assert cached.requests_made == requests


def test_routes_edited_behind_our_back_are_applied_again_and_show_as_a_change(
    cached: KubeCluster, admin: KubeCluster, namespace: str
) -> None:
    cached.apply(step_objects(namespace, 90, 10))
    vs = admin.get(VS, "VirtualService", namespace, "app")
    assert vs is not None
    edited = copy.deepcopy(vs["spec"]["http"])
    edited[0]["route"][0]["weight"], edited[0]["route"][1]["weight"] = 50, 50
    patch(admin, vs, {"spec": {"http": edited}})
    wait_for(
        "the cache to see the edit",
        lambda: ((cached.get(VS, "VirtualService", namespace, "app") or {}).get("spec") or {})
        .get("http", [{}])[0].get("route", [{}])[0].get("weight") == 50,
    )
    requests = cached.requests_made

    results = cached.apply(step_objects(namespace, 90, 10))

    assert cached.requests_made == requests + 1
    (result,) = [r for r in results if r.changed]
    assert (result.kind, result.name) == ("VirtualService", "app")
    assert result.live_before is not None  # existed and changed with the same manifest: the engine's drift
    assert result.live_before["spec"]["http"][0]["route"][0]["weight"] == 50
    assert result.desired_after["spec"]["http"][0]["route"][0]["weight"] == 90
    live = admin.get(VS, "VirtualService", namespace, "app")
    assert live is not None and [r["weight"] for r in live["spec"]["http"][0]["route"]] == [90, 10]
    assert weights_mismatch(result.desired_after, _canary("app"), _routes(90, 10)) is None


def test_an_edit_of_a_field_we_do_not_set_is_not_a_change(
    cached: KubeCluster, admin: KubeCluster, namespace: str
) -> None:
    cached.apply(step_objects(namespace, 100, 0))
    svc = admin.get("v1", "Service", namespace, "app")
    assert svc is not None
    patch(admin, svc, {"metadata": {"labels": {"owner": "someone"}}})
    wait_for("the cache to see the label",
             lambda: ((cached.get("v1", "Service", namespace, "app") or {}).get("metadata") or {})
             .get("labels", {}).get("owner"))
    requests = cached.requests_made

    results = cached.apply(step_objects(namespace, 100, 0))

    assert cached.requests_made == requests + 1  # the Service is applied once more, to be sure
    assert not any(r.changed for r in results)
    requests = cached.requests_made
    cached.apply(step_objects(namespace, 100, 0))
    assert cached.requests_made == requests  # and then it is known again


def test_the_hpa_lookup_and_replicas_rules_work_from_the_caches(
    cached: KubeCluster, admin: KubeCluster, namespace: str
) -> None:
    create(admin, hpa(namespace, "api", "api", min_replicas=3))
    wait_for("the cache to see the HPA",
             lambda: cached.get("autoscaling/v2", "HorizontalPodAutoscaler", namespace, "api"))
    requests = cached.requests_made

    cached.apply([deployment(namespace, "api", replicas=1)])

    assert cached.requests_made == requests + 1  # the apply only: the HPA came from the cache
    live = raw(cached, f"/apis/apps/v1/namespaces/{namespace}/deployments/api")
    gitflagger = next(e for e in live["metadata"]["managedFields"] if e["manager"] == "gitflagger")
    assert "f:replicas" not in gitflagger["fieldsV1"]["f:spec"]


def test_dry_run_still_asks_the_server_and_writes_nothing(cached: KubeCluster, namespace: str) -> None:
    cached.apply(step_objects(namespace, 100, 0))
    writes = cached.writes_made

    results = cached.apply(step_objects(namespace, 80, 20), dry_run=True)

    assert cached.writes_made == writes
    assert [(r.kind, r.changed) for r in results if r.changed] == [("VirtualService", True)]
    live = cached.get(VS, "VirtualService", namespace, "app")
    assert live is not None and live["spec"]["http"][0]["route"][0]["weight"] == 100



def _canary(name: str) -> Canary:
    return parse_canary({
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": name, "namespace": "test"},
        "spec": {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "service": {"port": 9898},
                 "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}},
    })


def _routes(primary: int, canary: int) -> Routes:
    return Routes(primary, canary)
