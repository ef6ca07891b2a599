"""git-only mode with Flux (engine/flux.py, engine/git_only.py) against the in-memory cluster.

The testbed tests (tests/integration/test_flux_*.py) run the same behaviour with Flux's own
controllers; these pin each rule down, failure paths included, in milliseconds.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.engine.controller import Controller
from gitflagger.engine.flux import REQUESTED_AT, Flux, FluxRef
from gitflagger.engine.reconcile import ApplyMode
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World
from tests.unit.engine.test_reconcile_modes import flux as play_flux
from tests.unit.engine.test_reconcile_modes import gitops_until

FLUX_NS = "flux-system"


def kustomization(name: str, path: str, *, ready: str = "True", message: str = "Applied") -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": name, "namespace": FLUX_NS},
        "spec": {"path": path, "prune": True, "sourceRef": {"kind": "GitRepository", "name": "config"}},
        "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "HealthCheckFailed"
                                   if ready == "False" else "ReconciliationSucceeded", "message": message}]},
    }


GIT_REPOSITORY = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                  "metadata": {"name": "config", "namespace": FLUX_NS}, "spec": {"url": "http://127.0.0.1/x"}}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        w = World(tmp_path, prometheus, hooks)
        w.cluster.put(GIT_REPOSITORY)
        w.ctx = dataclasses.replace(
            w.ctx, apply_mode=ApplyMode.GIT_ONLY, flux=Flux(w.cluster, "local", clock=lambda: w.now)
        )
        yield w


def warnings(world: World, reason: str) -> list[str]:
    return [e.message for e in world.cluster.events if e.warning and e.reason == reason]


def nudged(world: World) -> list[str]:
    return [f"{kind} {ns}/{name}" for kind, ns, name, _ in world.cluster.annotated]


def test_a_pushed_step_nudges_the_git_repository_then_the_covering_kustomization(world: World) -> None:
    world.cluster.put(kustomization("apps", "./apps"))
    world.cluster.put(kustomization("canaries", "./local"))

    world.step()  # initializing: a commit

    assert nudged(world) == ["GitRepository flux-system/config", "Kustomization flux-system/canaries"]
    stamp = world.cluster.annotated[0][3][REQUESTED_AT]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    assert world.cluster.obj("Kustomization", "canaries", FLUX_NS)["metadata"]["annotations"] == {
        REQUESTED_AT: stamp}

    world.cluster.annotated.clear()
    waiting = world.step()  # nothing applied yet: no new commit, no nudge
    assert "waiting for the committed state" in waiting.skipped and nudged(world) == []
    assert warnings(world, "FluxNotFound") == []


def test_the_most_specific_covering_kustomization_wins_and_the_flag_overrides_discovery(world: World) -> None:
    for name, path in [("root", "./"), ("canaries", "local"), ("test-ns", "./local/test/"),
                       ("other", "./local/testing")]:
        world.cluster.put(kustomization(name, path))
    assert world.ctx.flux is not None
    carrier = world.ctx.flux.carrier("test", "podinfo")
    assert carrier.kustomization == FluxRef(FLUX_NS, "test-ns")
    assert carrier.source == FluxRef(FLUX_NS, "config")

    chosen = Flux(world.cluster, "local", kustomization=FluxRef("ops", "mine"), source=FluxRef("ops", "repo"))
    assert chosen.carrier("test", "podinfo").kustomization == FluxRef("ops", "mine")
    assert chosen.carrier("test", "podinfo").source == FluxRef("ops", "repo")


@pytest.mark.parametrize("paths, found", [
    ([("apps", "./apps")], "no Flux Kustomization covers local/test/podinfo (found: none; looked in "),
    ([("a", "./local"), ("b", "local/")],
     "several Kustomizations cover local/test/podinfo (found: flux-system/a, flux-system/b; looked in "),
])
def test_no_or_two_covering_kustomizations_are_one_warning_not_a_silent_no_op(
    world: World, paths: list[tuple[str, str]], found: str
) -> None:
    for name, path in paths:
        world.cluster.put(kustomization(name, path))

    world.steps(3)

    said = warnings(world, "FluxNotFound")
    assert len(said) == 1 and said[0].startswith(found) and "--flux-kustomization" in said[0]
    assert nudged(world) == []  # nothing to nudge: Flux applies at its own interval


def test_discovery_says_where_it_looked_and_a_failed_list_is_its_own_problem(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    one_namespace = Flux(world.cluster, "local", namespace="demo")
    assert one_namespace.carrier("demo", "podinfo").problem.startswith(
        "no Flux Kustomization covers local/demo/podinfo (found: none; looked in namespace demo)")
    everywhere = Flux(world.cluster, "local")
    assert everywhere.carrier("demo", "podinfo").kustomization == FluxRef(FLUX_NS, "canaries")

    world.cluster.down = True
    failed = Flux(world.cluster, "local").carrier("demo", "podinfo")
    assert failed.kustomization is None
    assert failed.problem == "cannot list Flux Kustomizations: kubernetes: connection refused"


def test_a_failed_kustomization_holds_the_step_and_says_fluxs_message_once(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    gitops_until(world, "Initialized")
    world.set_image("6.0.1")
    gitops_until(world, "Progressing")
    failing = world.cluster.obj("Kustomization", "canaries", FLUX_NS)
    source = world.cluster.obj("GitRepository", "config", FLUX_NS)
    failing["status"]["conditions"][0].update(
        status="False", reason="HealthCheckFailed",
        message="timeout waiting for: [Deployment/test/podinfo-primary]")
    # Flux handled both nudges, but the Kustomization ran before the source fetched the push:
    # its verdict is about an older revision, and the live objects decide.
    source["status"] = {"lastHandledReconcileAt": source["metadata"]["annotations"][REQUESTED_AT],
                        "artifact": {"revision": "main@sha1:new"}}
    failing["status"].update(lastHandledReconcileAt=failing["metadata"]["annotations"][REQUESTED_AT],
                             lastAttemptedRevision="main@sha1:old")
    assert world.step().stepped
    play_flux(world)
    assert warnings(world, "FluxApplyFailed") == []
    weight = world.status["canaryWeight"]
    for obj in (source, failing):  # Flux handled the last nudges, and tried the pushed revision
        obj["status"]["lastHandledReconcileAt"] = obj["metadata"]["annotations"][REQUESTED_AT]
    failing["status"]["lastAttemptedRevision"] = "main@sha1:new"

    outcomes = [world.step() for _ in range(3)]
    play_flux(world)

    assert not any(o.stepped for o in outcomes) and world.status["canaryWeight"] == weight
    assert outcomes[0].skipped.endswith(
        "Flux Kustomization flux-system/canaries failed (HealthCheckFailed): "
        "timeout waiting for: [Deployment/test/podinfo-primary]")
    assert len(warnings(world, "FluxApplyFailed")) == 1

    failing["status"]["conditions"][0].update(status="True", reason="ReconciliationSucceeded")
    assert world.step().stepped


def test_a_kubectl_edit_of_the_route_is_drift_naming_its_field_manager(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    gitops_until(world, "Initialized")
    world.cluster.annotated.clear()
    vs = world.cluster.obj("VirtualService", "podinfo")
    vs["spec"]["http"][0]["route"][0]["weight"] = 50
    vs["spec"]["http"][0]["route"][1]["weight"] = 50
    world.cluster.managed[("VirtualService", "test", "podinfo")] = [
        {"manager": "kustomize-controller", "operation": "Apply", "time": "2026-12-06T10:00:00Z"},
        {"manager": "kubectl-edit", "operation": "Update", "time": "2026-12-06T10:05:00Z"},
    ]

    for _ in range(3):
        assert not world.step().stepped

    (said,) = warnings(world, "Drift")
    assert said.startswith(
        "Drift detected on VirtualService podinfo.test: live weights primary=50 canary=50, committed 100/0; "
        "changed by field manager kubectl-edit (Update at 2026-12-06T10:05:00Z)")
    drift = world.ctx.telemetry.drift.labels("podinfo", "test", "VirtualService")
    assert drift._value.get() == 1  # type: ignore[attr-defined]  # prometheus_client's own counter value
    assert "Kustomization flux-system/canaries" in nudged(world)  # Flux is asked to put it back now


def test_lag_is_not_drift_while_only_flux_and_gitflagger_wrote_the_route(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    gitops_until(world, "Initialized")
    world.set_image("6.0.1")
    world.steps(2)  # weight 10 committed, Flux has not applied it
    world.cluster.managed[("VirtualService", "test", "podinfo")] = [
        {"manager": "kustomize-controller", "operation": "Apply", "time": "2026-12-06T10:00:00Z"},
        {"manager": "gitflagger", "operation": "Apply", "time": "2026-12-06T09:00:00Z"},
    ]
    assert "live weights" in world.step().skipped
    assert warnings(world, "Drift") == []


def test_git_setting_the_targets_replicas_is_one_warning_saying_to_remove_it(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    world.cluster.managed[("Deployment", "test", "podinfo")] = [
        {"manager": "kustomize-controller", "operation": "Apply",
         "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}},
        {"manager": "gitflagger", "operation": "Update", "subresource": "scale",
         "fieldsV1": {"f:spec": {"f:replicas": {}}}},
    ]

    gitops_until(world, "Initialized")
    world.steps(2)

    (said,) = warnings(world, "ReplicasInGit")
    assert said.startswith("deployment podinfo: its manifest in git sets spec.replicas")
    assert "remove spec.replicas" in said

    world.cluster.managed[("Deployment", "test", "podinfo")][0]["fieldsV1"] = {"f:spec": {"f:template": {}}}
    world.set_image("6.0.1")  # a new generation: checked again, and silent now
    world.step()
    assert len(warnings(world, "ReplicasInGit")) == 1


def test_secret_copies_are_applied_directly_and_only_their_checksum_is_committed(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    world.cluster.put({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                       "metadata": {"name": "podinfo-token", "namespace": "test"},
                       "data": {"token": "c2VjcmV0LXZhbHVl"}})
    pod = world.cluster.obj("Deployment", "podinfo")["spec"]["template"]["spec"]
    pod["volumes"] = [{"name": "token", "secret": {"secretName": "podinfo-token"}}]

    gitops_until(world, "Initialized")

    copy = world.cluster.obj("Secret", "podinfo-token-primary")
    assert copy["data"] == {"token": "c2VjcmV0LXZhbHVl"}
    primary = world.cluster.obj("Deployment", "podinfo-primary")["spec"]["template"]["spec"]
    assert primary["volumes"][0]["secret"]["secretName"] == "podinfo-token-primary"
    repo = pygit2.Repository(str(world.repo_path))
    tree = repo.references["refs/heads/main"].peel(pygit2.Commit).tree["local"]["test"]["podinfo"]
    names = [entry.name for entry in tree]
    assert "deployment-podinfo-primary.yaml" in names and not any("secret" in n for n in names)
    for commit in world.commits():
        if "local" in commit.tree:
            for blob in commit.tree["local"]["test"]["podinfo"]:
                assert b"c2VjcmV0LXZhbHVl" not in blob.data and b"secret-value" not in blob.data


def test_the_controller_nudges_each_flux_object_once_per_chunk_after_its_push(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    second = copy.deepcopy(world.canary)
    second["metadata"].update(name="podinfo-b", uid="uid-podinfo-b")
    second.pop("status", None)
    world.cluster.put(second)
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()

    outcomes = c.run_pass(everything=True)

    assert sum(o.stepped for o in outcomes) == 2  # both Canaries committed a step in this chunk
    assert nudged(world) == ["GitRepository flux-system/config", "Kustomization flux-system/canaries"]


def test_each_recorded_finalization_step_nudges_flux(world: World) -> None:
    world.cluster.put(kustomization("canaries", "./local"))
    world.canary["spec"]["revertOnDeletion"] = True
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass()  # git-only from the start: initializing, committed and nudged
    play_flux(world)
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    world.cluster.annotated.clear()
    world.now += timedelta(seconds=5)
    c.sync()

    c.run_pass()  # Terminating: the target scaled back up, committed

    assert world.status["phase"] == "Terminating"
    assert nudged(world) == ["GitRepository flux-system/config", "Kustomization flux-system/canaries"]
