"""Whole steps (``reconcile_one``) on a KubeCluster with its watch caches, as ``gitflagger run`` runs them.

A settled Canary's step reads everything from the caches and applies nothing:
it sends its status patch and nothing else. When someone edits the routes, the
next step applies the VirtualService again, once, and reports the drift.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.transport import Transport
from gitflagger.engine.reconcile import CanaryMemory, Context, reconcile_one
from gitflagger.engine.telemetry import Telemetry
from tests.integration.controller_support import app_namespace, create, events, podinfo, wait_for
from tests.integration.test_kube_support import ensure_canary_crd
from tests.testbed.cluster import Cluster
from tests.unit.adapters.loopback import LoopbackServer

pytestmark = pytest.mark.testbed

VS = "networking.istio.io/v1beta1"


@pytest.fixture
def admin(cluster: Cluster) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client(), qps=100, burst=100)
    try:
        ensure_canary_crd(kc)
        yield kc
    finally:
        kc.close()


@pytest.fixture
def app(admin: KubeCluster, kube_api: Any, namespace: str) -> Iterator[str]:
    with LoopbackServer() as load_tester, app_namespace(kube_api, namespace) as ns:
        for obj in podinfo(ns, load_tester.url + "/", interval="10s"):
            create(admin, obj)
        yield ns


@pytest.fixture
def cached(cluster: Cluster, app: str) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client(), qps=100, burst=100)
    caches = kc.start_caches(app)
    try:
        wait_for("the caches to sync", lambda: caches.synced)
        yield kc
    finally:
        kc.close()


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(method, path) of every request any KubeCluster sends from here on."""
    log: list[tuple[str, str]] = []
    send = Transport._send

    def recording(self: Transport, method: str, path: str, *args: Any) -> Any:
        log.append((method, path))
        return send(self, method, path, *args)

    monkeypatch.setattr(Transport, "_send", recording)
    return log


def test_a_settled_step_sends_only_its_status_and_edited_routes_are_put_back_as_drift(
    admin: KubeCluster, cached: KubeCluster, app: str, tmp_path: Path, sent: list[tuple[str, str]]
) -> None:
    ns = app
    repo = tmp_path / "config.git"
    pygit2.init_repository(str(repo), bare=True)
    recorder = GitRecorder(repo)
    ctx = Context(cached, recorder, "http://127.0.0.1:9", telemetry=Telemetry(),
                  intents=IntentStore(recorder.repo))
    memory = CanaryMemory()  # as the controller keeps it: drift is measured against the last step

    def step() -> dict[str, Any]:
        canary = admin.get("flagger.app/v1beta1", "Canary", ns, "podinfo")
        assert canary is not None
        outcome = reconcile_one(ctx, canary, memory)
        recorder.flush()
        assert not outcome.error, outcome.error
        assert outcome.obj is not None
        return outcome.obj

    def initialized() -> bool:
        return step().get("status", {}).get("phase") == "Initialized"

    wait_for("the Canary to initialize", initialized)
    canary = admin.get("flagger.app/v1beta1", "Canary", ns, "podinfo")
    assert canary is not None
    mine = ("/canaries/podinfo/status", f"/namespaces/{ns}/events")  # the step's own reports

    sent.clear()
    reconcile_one(ctx, canary, memory)
    # Everything read from the caches, nothing applied: only the status (and Events, if any).
    assert [(m, p) for m, p in sent if not any(s in p for s in mine)] == []
    assert ("PATCH", f"/apis/flagger.app/v1beta1/namespaces/{ns}/canaries/podinfo/status") in sent

    vs = admin.get(VS, "VirtualService", ns, "podinfo")
    assert vs is not None
    http = copy.deepcopy(vs["spec"]["http"])
    http[-1]["route"][0]["weight"], http[-1]["route"][1]["weight"] = 50, 50
    admin.transport.request(
        "PATCH", f"/apis/{VS}/namespaces/{ns}/virtualservices/podinfo", body={"spec": {"http": http}},
        content_type="application/merge-patch+json", what="someone edits the routes",
    )
    wait_for("the cache to see the edit", lambda: (cached.get(VS, "VirtualService", ns, "podinfo") or {})
             .get("spec", {}).get("http", [{}])[-1].get("route", [{}])[0].get("weight") == 50)
    canary = admin.get("flagger.app/v1beta1", "Canary", ns, "podinfo")
    assert canary is not None

    sent.clear()
    reconcile_one(ctx, canary, memory)

    applied = [(m, p) for m, p in sent if not any(s in p for s in mine)]
    assert applied == [("PATCH", f"/apis/{VS}/namespaces/{ns}/virtualservices/podinfo")]
    live = admin.get(VS, "VirtualService", ns, "podinfo")
    assert live is not None
    assert [r["weight"] for r in live["spec"]["http"][-1]["route"]] == [100, 0]
    drift = [(kind, m) for kind, m in events(admin, ns) if m.startswith("Drift detected on VirtualService")]
    assert [kind for kind, _ in drift] == ["Warning"], events(admin, ns)
