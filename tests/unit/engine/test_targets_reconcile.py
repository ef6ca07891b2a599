"""The engine with a DaemonSet target and with a KEDA ScaledObject, in the in-memory cluster.

What these prove is the engine's side: the primary DaemonSet or ScaledObject
is applied, the target is hidden and brought back the way Flagger does it for
its kind (the scale-to-zero node selector; the ScaledObject's pause annotation
around the scale subresource), readiness is read from a DaemonSet's own
status, and a promotion copies the template. The testbed tests
(tests/integration/test_targets_e2e.py) do the same against a real API server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitflagger.render.daemonset import SCALE_TO_ZERO_KEY
from gitflagger.render.keda import PAUSED_REPLICAS
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World
from tests.unit.render.targets import daemonset, daemonset_canary, keda_canary, scaled_object

IMAGE = "ghcr.io/stefanprodan/podinfo"


def _canary_doc(kind: str) -> dict[str, object]:
    canary = daemonset_canary() if kind == "DaemonSet" else keda_canary()
    doc = dict(canary.raw)
    doc["metadata"] = {"name": "podinfo", "namespace": "test"}
    return doc


@pytest.fixture
def ds_world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        world = World(tmp_path, prometheus, hooks)
        world.cluster.objects.clear()
        world.cluster.put(daemonset())
        world.cluster.put(_canary_doc("DaemonSet"))
        yield world


@pytest.fixture
def keda_world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        world = World(tmp_path, prometheus, hooks)
        world.cluster.objects.pop(("HorizontalPodAutoscaler", "test", "podinfo"))
        world.cluster.objects.pop(("Canary", "test", "podinfo"))
        world.cluster.put(scaled_object())
        world.cluster.put(_canary_doc("ScaledObject"))
        yield world


def _node_selector(world: World, name: str) -> dict[str, str]:
    return dict(world.cluster.obj("DaemonSet", name)["spec"]["template"]["spec"].get("nodeSelector") or {})


def _set_ds_image(world: World, tag: str) -> None:
    target = world.cluster.obj("DaemonSet", "podinfo")
    target["spec"]["template"]["spec"]["containers"][0]["image"] = f"{IMAGE}:{tag}"
    target["metadata"]["generation"] += 1


def test_a_daemonset_is_initialized_hidden_and_promoted_by_its_node_selector(ds_world: World) -> None:
    world = ds_world
    world.initialized()
    assert ("DaemonSet", "test", "podinfo-primary") in world.cluster.objects
    assert ("Deployment", "test", "podinfo-primary") not in world.cluster.objects
    assert _node_selector(world, "podinfo") == {"kubernetes.io/os": "linux", SCALE_TO_ZERO_KEY: "true"}
    assert _node_selector(world, "podinfo-primary") == {"kubernetes.io/os": "linux"}
    assert world.cluster.scaled == [], "a DaemonSet has no scale subresource"
    (promoted,) = world.status["conditions"]
    assert promoted["message"] == "DaemonSet initialization completed."  # Flagger's text, with the kind

    _set_ds_image(world, "6.0.1")
    world.step()
    assert world.status["phase"] == "Progressing"
    assert SCALE_TO_ZERO_KEY not in _node_selector(world, "podinfo"), "the canary's pods are back"
    world.until("Succeeded")

    primary = world.cluster.obj("DaemonSet", "podinfo-primary")["spec"]["template"]["spec"]
    assert primary["containers"][0]["image"] == f"{IMAGE}:6.0.1"
    assert primary["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert _node_selector(world, "podinfo")[SCALE_TO_ZERO_KEY] == "true", "hidden again after promotion"
    messages = world.cluster.messages()
    assert "Copying podinfo.test template spec to podinfo-primary.test" in messages
    assert messages[-1] == "Promotion completed! Scaling down podinfo.test"
    selectors = [
        p[2]["spec"]["template"]["spec"]["nodeSelector"][SCALE_TO_ZERO_KEY] for p in world.cluster.patched
    ]
    assert selectors == ["true", None, "true"], "hide at init, show for the analysis, hide after promotion"


def test_hiding_a_daemonset_does_not_start_a_rollout(ds_world: World) -> None:
    world = ds_world
    world.initialized()
    before = world.status["lastAppliedSpec"]
    world.steps(3)
    assert world.status["phase"] == "Initialized"
    assert world.status["lastAppliedSpec"] == before


def test_an_unready_daemonset_canary_halts_with_flaggers_daemonset_message(ds_world: World) -> None:
    world = ds_world
    world.initialized()
    world.cluster.unready.add("podinfo")
    _set_ds_image(world, "6.0.1")
    world.steps(2)
    assert world.status["phase"] == "Progressing"
    assert world.cluster.messages()[-1] == (
        "Halt podinfo.test advancement waiting for rollout to finish: 0 out of 2 new pods have been updated"
    )


def test_a_daemonset_canary_past_its_deadline_is_rolled_back_naming_the_daemonset(ds_world: World) -> None:
    world = ds_world
    world.initialized()
    world.cluster.unready.add("podinfo")
    _set_ds_image(world, "6.0.1")
    world.until("Failed", limit=5)  # progressDeadlineSeconds 60, one minute per step
    rollback = [m for m in world.cluster.messages() if m.startswith("Rolling back")]
    assert rollback == [
        "Rolling back podinfo.test progress deadline exceeded canary daemonset podinfo.test not ready: "
        "waiting for rollout to finish: 0 out of 2 new pods have been updated"
    ]
    assert _node_selector(world, "podinfo")[SCALE_TO_ZERO_KEY] == "true"


def _annotations(world: World, name: str) -> dict[str, str]:
    return dict(world.cluster.obj("ScaledObject", name)["metadata"].get("annotations") or {})


def test_a_scaledobject_is_copied_for_the_primary_and_paused_around_the_canary(keda_world: World) -> None:
    world = keda_world
    world.initialized()
    primary = world.cluster.obj("ScaledObject", "podinfo-so-primary")
    assert primary["spec"]["scaleTargetRef"]["name"] == "podinfo-primary"
    assert "podinfo-primary" in primary["spec"]["triggers"][0]["metadata"]["query"]
    assert _annotations(world, "podinfo-so") == {PAUSED_REPLICAS: "0"}
    assert PAUSED_REPLICAS not in _annotations(world, "podinfo-so-primary")
    assert world.cluster.scaled == [("podinfo", 0)]

    world.set_image("6.0.1")
    world.step()
    assert PAUSED_REPLICAS not in _annotations(world, "podinfo-so"), "resumed before the canary scales up"
    assert world.cluster.scaled[-1] == ("podinfo", 1), "the ScaledObject's minReplicaCount"
    world.until("Succeeded")
    assert _annotations(world, "podinfo-so") == {PAUSED_REPLICAS: "0"}
    assert world.cluster.scaled[-1] == ("podinfo", 0)
    kinds = [
        (kind, body["metadata"]["annotations"][PAUSED_REPLICAS]) for kind, _, body in world.cluster.patched
    ]
    assert kinds == [("ScaledObject", "0"), ("ScaledObject", None), ("ScaledObject", "0")]


def _finalize(world: World, hidden: Callable[[], bool]) -> None:
    """Initialize with revertOnDeletion, delete the Canary, and run passes until the finalizer lets go."""
    from datetime import timedelta

    from gitflagger.engine.controller import Controller

    world.canary["spec"]["revertOnDeletion"] = True
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    for _ in range(4):  # the controller's passes, which hold the finalizer
        c.sync()
        c.run_pass(everything=True)
    assert world.status["phase"] == "Initialized" and world.canary["metadata"]["finalizers"]
    assert hidden(), "between rollouts the target is hidden"
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    for _ in range(4):
        if ("Canary", "test", "podinfo") not in world.cluster.objects:
            return
        world.now += timedelta(seconds=5)
        c.sync()
        c.run_pass()
    raise AssertionError("the finalizer did not let go")


def test_revert_on_deletion_brings_a_daemonsets_pods_back(ds_world: World) -> None:
    _finalize(ds_world, lambda: SCALE_TO_ZERO_KEY in _node_selector(ds_world, "podinfo"))
    assert SCALE_TO_ZERO_KEY not in _node_selector(ds_world, "podinfo")
    assert ds_world.cluster.scaled == []
    apex = ds_world.cluster.obj("Service", "podinfo")
    assert apex["spec"]["selector"] == {"app": "podinfo"} and "ownerReferences" not in apex["metadata"]


def test_revert_on_deletion_lifts_the_scaled_objects_pause(keda_world: World) -> None:
    def paused() -> bool:
        annotations = keda_world.cluster.obj("ScaledObject", "podinfo-so")["metadata"].get("annotations")
        return PAUSED_REPLICAS in (annotations or {})

    _finalize(keda_world, paused)
    assert not paused()
    assert keda_world.cluster.scaled[-1][0] == "podinfo" and keda_world.cluster.scaled[-1][1] >= 1
