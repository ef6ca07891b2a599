"""Every Istio strategy on routed traffic: the mesh simulator routes each user's request by the live
VirtualService, and the assertions read both what users got and what Prometheus measured.

Real control plane, real Prometheus, the controller's own pass function
(``Controller.run_pass``, as ``test_analysis_e2e.py`` runs it), one namespace
per test. The mesh simulator's users (tests/testbed/loadgen.py): a quarter send
``X-Canary: insider``, a quarter carry the cookie ``canary=always``, the rest
neither; each keeps a browser's cookie jar. Releases: 6.0.0 is the primary,
6.0.1 the healthy canary. Traffic is counted only between snapshots taken
under one unchanged routing table (tests/integration/routed_support.py), so a
count belongs to exactly one VirtualService.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from gitflagger.adapters.kube import KubeCluster
from gitflagger.loadtester.api import LoadTester, LoadTesterConfig
from gitflagger.loadtester.server import LoadTesterServer
from gitflagger.model.canary import V1BETA1
from tests.integration.analysis_support import (
    BUILTINS,
    Passes,
    app,
    canary_events,
    create_all,
    hook,
    primary_image,
    set_image,
    status,
)
from tests.integration.controller_support import kube, wait_for  # noqa: F401 (fixture)
from tests.integration.routed_support import APP, CANARY_SERVICE, Rollout, routed_under, weights
from tests.testbed.gitserver import RepoUrls
from tests.testbed.istio_routing import HttpRoute
from tests.testbed.loadgen import LoadProfile
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus

pytestmark = pytest.mark.testbed

PRIMARY = f"{APP}-primary"
AB_MATCH = [  # Flagger's A/B tutorial: the header, or the cookie
    {"headers": {"x-canary": {"regex": ".*insider.*"}}},
    {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}},
]
TOKEN = "operator-token-for-the-testbed"


@pytest.fixture
def gate() -> Iterator[LoadTesterServer]:
    """gitflagger's load tester: its ``/gate/check`` is the confirm-promotion webhook."""
    config = LoadTesterConfig(operator_token=TOKEN.encode())
    server = LoadTesterServer(LoadTester(config), host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=5)


def rollout(
    kube: KubeCluster, ns: str, meshsim: MeshSim, prometheus: Prometheus, repo: RepoUrls,
    profile: LoadProfile, *, webhooks: list[dict[str, Any]] | None = None, deadline: int = 120,
    **analysis: Any,
) -> Rollout:
    """podinfo 6.0.0 initialized under a Canary with ``analysis`` (None values delete a default)."""
    meshsim.set_profile(ns, profile)
    objects = app(ns, APP, metrics=BUILTINS, webhooks=webhooks or [], threshold=2, step_weight=25)
    for obj in objects:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.0"
        if obj["kind"] == "Canary":
            obj["spec"]["progressDeadlineSeconds"] = deadline
            target = obj["spec"]["analysis"]
            for key, value in analysis.items():
                if value is None:
                    target.pop(key, None)
                else:
                    target[key] = value
    create_all(kube, objects)
    out = Rollout(kube, ns, Passes.build(kube, ns, repo.path, prometheus, [APP]), meshsim)
    out.passes.until({APP: "Initialized"})
    return out


@pytest.fixture
def mesh(meshsim: MeshSim, namespace: str) -> Iterator[MeshSim]:
    try:
        yield meshsim
    finally:
        meshsim.forget(namespace)


def promoted(kube: KubeCluster, ns: str) -> None:
    assert status(kube, ns, APP)["phase"] == "Succeeded", canary_events(kube, ns, APP)
    assert primary_image(kube, ns, APP).endswith(":6.0.1")


def release(ro: Rollout) -> None:
    """Release 6.0.1, step until it is promoted, and check that Prometheus measured what was routed."""
    set_image(ro.kube, ro.namespace, APP, "6.0.1")
    assert ro.until("Succeeded") == "Succeeded"
    promoted(ro.kube, ro.namespace)
    assert ro.measured_as_routed() > 0


def canary_weight(table: tuple[HttpRoute, ...], route: int) -> int:
    return weights(table, route).get(CANARY_SERVICE, 0)


# ---- A/B ------------------------------------------------------------------------------------


def test_ab_only_matched_requests_reach_the_canary(
    kube: KubeCluster, namespace: str, mesh: MeshSim, prometheus: Prometheus, git_repo: RepoUrls
) -> None:
    ro = rollout(kube, namespace, mesh, prometheus, git_repo, LoadProfile(),
                 iterations=2, match=AB_MATCH, stepWeight=None, maxWeight=None)
    release(ro)

    def ab(table: tuple[HttpRoute, ...]) -> bool:  # the A/B table: matched route to the canary
        return len(table) == 2 and bool(table[0].match) and canary_weight(table, 0) == 100

    seen = routed_under(ro.snapshots, ab)
    assert seen.to(APP, "ab-header") > 20 and seen.to(APP, "ab-cookie") > 20, seen
    assert seen.to(PRIMARY, "ab-header") == 0 and seen.to(PRIMARY, "ab-cookie") == 0, seen
    assert seen.to(APP, "plain") == 0 and seen.to(PRIMARY, "plain") > 20, seen
    messages = [m for _, m in canary_events(kube, namespace, APP)]
    assert f"Advance {APP}.{namespace} canary iteration 2/2" in messages, messages


# ---- mirroring ------------------------------------------------------------------------------


def test_mirroring_gives_the_canary_copies_and_users_the_primary(
    kube: KubeCluster, namespace: str, mesh: MeshSim, prometheus: Prometheus, git_repo: RepoUrls
) -> None:
    ro = rollout(kube, namespace, mesh, prometheus, git_repo, LoadProfile(),
                 iterations=2, mirror=True, stepWeight=None, maxWeight=None)
    release(ro)

    def mirroring(table: tuple[HttpRoute, ...]) -> bool:
        return any(r.mirror == CANARY_SERVICE for r in table) and canary_weight(table, -1) == 0

    seen = routed_under(ro.snapshots, mirroring)
    assert seen.mirrored[APP] > 40, seen
    assert seen.to(APP) == 0, "no user got a mirrored answer"
    assert seen.mirrored[APP] == seen.to(PRIMARY), "every user request was copied (no mirrorPercentage)"
    messages = [m for _, m in canary_events(kube, namespace, APP)]
    assert "Stop traffic mirroring and route all traffic to canary" in messages, messages


# ---- session affinity ------------------------------------------------------------------------


def test_session_affinity_keeps_a_pinned_user_on_the_canary(
    kube: KubeCluster, namespace: str, mesh: MeshSim, prometheus: Prometheus, git_repo: RepoUrls
) -> None:
    affinity = {"cookieName": "flagger-cookie", "primaryCookieName": "primary-cookie", "maxAge": 3600}
    ro = rollout(kube, namespace, mesh, prometheus, git_repo, LoadProfile(users=40, ab_users=False),
                 stepWeight=10, maxWeight=20, sessionAffinity=affinity)
    release(ro)

    def sticky(table: tuple[HttpRoute, ...]) -> bool:  # the canary has weight and hands out the cookies
        return len(table) == 3 and canary_weight(table, 0) == 100 and 0 < canary_weight(table, -1) < 100

    seen = routed_under(ro.snapshots, sticky)
    on_canary = [w for (_, cookie), w in seen.held.items() if cookie == "flagger-cookie"]
    on_primary = [w for (_, cookie), w in seen.held.items() if cookie == "primary-cookie"]
    assert on_canary and on_primary, f"nobody was pinned: {seen}"
    assert all(set(answers) == {APP} for answers in on_canary), on_canary
    assert all(set(answers) == {PRIMARY} for answers in on_primary), on_primary
    assert sum(sum(a.values()) for a in on_canary) > 20

    # After the promotion, the VirtualService tells every holder to drop the cookie.
    wait_for("every user to drop the sticky cookie", lambda: not any(
        u.jar.get("flagger-cookie") for u in mesh.ledger(namespace).users), 60, 1)
    given = {v.split(";")[0] for u in mesh.ledger(namespace).users for v in u.given}
    canary_cookies = [g for g in given if g.startswith("flagger-cookie=")]
    assert len(canary_cookies) == 1, f"one rollout, one cookie: {given}"


# ---- blue/green ------------------------------------------------------------------------------


def test_blue_green_tests_the_idle_canary_then_switches_everyone(
    kube: KubeCluster, namespace: str, mesh: MeshSim, prometheus: Prometheus, git_repo: RepoUrls
) -> None:
    profile = LoadProfile(direct=(CANARY_SERVICE,))  # the load tester calls podinfo-canary itself
    ro = rollout(kube, namespace, mesh, prometheus, git_repo, profile,
                 iterations=2, stepWeight=None, maxWeight=None)
    release(ro)

    idle = routed_under(ro.snapshots, lambda t: canary_weight(t, -1) == 0 and not t[-1].mirror)
    assert idle.to(APP) == 0 and idle.direct[APP] > 20, idle
    switched = routed_under(ro.snapshots, lambda t: canary_weight(t, -1) == 100)
    assert switched.to(APP) > 20 and switched.to(PRIMARY) == 0, "all users on the canary before promotion"


# ---- confirm-promotion -----------------------------------------------------------------------


def test_confirm_promotion_holds_at_waiting_promotion_until_the_gate_opens(
    kube: KubeCluster, namespace: str, mesh: MeshSim, prometheus: Prometheus, git_repo: RepoUrls,
    gate: LoadTesterServer,
) -> None:
    check = hook(f"{gate.url}/gate/check", name="ask-the-operator") | {"type": "confirm-promotion"}
    ro = rollout(kube, namespace, mesh, prometheus, git_repo, LoadProfile(ab_users=False),
                 webhooks=[check], stepWeight=50, maxWeight=50)
    set_image(kube, namespace, APP, "6.0.1")
    assert ro.until("WaitingPromotion") == "WaitingPromotion"
    held = len(ro.snapshots)
    for _ in range(2):
        assert ro.step() == "WaitingPromotion"
    assert primary_image(kube, namespace, APP).endswith(":6.0.0"), "nothing promoted while the gate is shut"
    waiting = routed_under(ro.snapshots[held:], lambda t: canary_weight(t, -1) == 50)
    assert waiting.to(APP) > 20 and waiting.to(PRIMARY) > 20, "the canary keeps its users while it waits"

    opened = requests.post(f"{gate.url}/gate/open", json={"name": APP, "namespace": namespace},
                           headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert opened.status_code == 202, opened.text
    assert ro.until("Succeeded") == "Succeeded"
    promoted(kube, namespace)
    messages = [m for _, m in canary_events(kube, namespace, APP)]
    assert any("ask-the-operator" in m and "passed" in m for m in messages), messages


# ---- progress deadline -----------------------------------------------------------------------


def test_a_canary_that_never_becomes_available_is_rolled_back_at_the_progress_deadline(
    kube: KubeCluster, namespace: str, mesh: MeshSim, prometheus: Prometheus, git_repo: RepoUrls
) -> None:
    ro = rollout(kube, namespace, mesh, prometheus, git_repo, LoadProfile(ab_users=False), deadline=15)
    # 6.0.1 with minReadySeconds 600: its pods run and are ready, never available.
    container = {"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.1"}
    kube.transport.request(
        "PATCH", kube.resources.resolve("apps/v1", "Deployment").path(namespace) + f"/{APP}",
        body={"spec": {"minReadySeconds": 600, "progressDeadlineSeconds": 900,
                       "template": {"spec": {"containers": [container]}}}},
        content_type="application/strategic-merge-patch+json", what="stall the release",
    )
    controller = ro.passes.controller

    def a_pass() -> str | None:
        controller.sync()
        controller.run_pass(everything=True)
        phase = str(status(kube, namespace, APP).get("phase", ""))
        return phase if phase == "Failed" else None

    before = mesh.ledger(namespace)
    wait_for("the rollback at the progress deadline", a_pass, 120, 2)
    after = mesh.ledger(namespace)
    messages = [m for _, m in canary_events(kube, namespace, APP)]
    rolled = f"Rolling back {APP}.{namespace} progress deadline exceeded"
    assert any(m.startswith(rolled) for m in messages), messages
    assert f"Canary failed! Scaling down {APP}.{namespace}" in messages, messages
    assert primary_image(kube, namespace, APP).endswith(":6.0.0")
    assert after.to(APP) == before.to(APP), "no user was ever routed to the stalled canary"
    assert after.to(PRIMARY) > before.to(PRIMARY) + 100
    obj = kube.get(V1BETA1, "Canary", namespace, APP)
    assert obj is not None and int(obj["status"].get("canaryWeight", 0)) == 0
