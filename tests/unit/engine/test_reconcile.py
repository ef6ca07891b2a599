"""reconcile_one on an in-memory cluster: the pipeline carries out what the decision core decides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitflagger.adapters.git import read_history
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World

GENERATED = [
    ("Service", "podinfo"),
    ("Service", "podinfo-canary"),
    ("Service", "podinfo-primary"),
    ("Deployment", "podinfo-primary"),
    ("HorizontalPodAutoscaler", "podinfo-primary"),
    ("DestinationRule", "podinfo-canary"),
    ("DestinationRule", "podinfo-primary"),
    ("VirtualService", "podinfo"),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield World(tmp_path, prometheus, hooks)


def weights(world: World) -> list[int]:
    vs = world.cluster.obj("VirtualService", "podinfo")
    return [r["weight"] for r in vs["spec"]["http"][0]["route"]]


def image(world: World, deployment: str) -> str:
    obj = world.cluster.obj("Deployment", deployment)
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_fresh_canary_gets_flaggers_objects_and_the_target_scaled_to_zero(world: World) -> None:
    first = world.step()

    assert first.decision is not None and first.commit is not None
    for kind, name in GENERATED:
        assert (kind, "test", name) in world.cluster.objects, (kind, name)
    assert weights(world) == [100, 0]
    assert world.cluster.scaled == [("podinfo", 0)]
    status = world.status
    assert status["phase"] == "Initializing"
    assert status["lastCommit"] == first.commit
    assert status["lastStepTime"] == "2026-11-29T10:00:00Z"

    world.step()
    assert world.status["phase"] == "Initialized"
    assert world.cluster.messages() == ["Initialization done! podinfo.test"]


def test_a_healthy_release_advances_to_max_weight_and_promotes(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")

    outcomes = world.until("Succeeded")

    assert image(world, "podinfo-primary").endswith(":6.0.1")
    assert weights(world) == [100, 0]
    assert world.cluster.scaled[-1] == ("podinfo", 0)
    assert ("podinfo", 2) in world.cluster.scaled  # scaled up to the HPA's minReplicas
    messages = world.cluster.messages()
    expected = [
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        *[f"Advance podinfo.test canary weight {w}" for w in (10, 20, 30, 40, 50)],
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]
    assert [m for m in messages if m in expected] == expected
    assert all(o.commit for o in outcomes), [o.decision and o.decision.subject for o in outcomes]
    history = read_history(world.repo_path, "test/podinfo")
    assert history[0].trailers.phase == "Succeeded"
    assert [h.trailers.canary_weight for h in history[::-1] if h.trailers.phase == "Progressing"][-5:] == [
        10, 20, 30, 40, 50,
    ]
    assert world.hooks.requests, "the rollout webhook (load-test) was called"


def test_a_failing_release_halts_each_interval_then_rolls_back_at_the_threshold(world: World) -> None:
    world.initialized()
    world.set_image("6.0.2")
    world.metrics.success_rate = 69.17

    world.until("Failed")

    halts = [m for m in world.cluster.messages() if "advancement success rate" in m]
    assert halts == ["Halt podinfo.test advancement success rate 69.17% < 99%"] * 5
    assert "Rolling back podinfo.test failed checks threshold reached 5" in world.cluster.messages()
    assert image(world, "podinfo-primary").endswith(":6.0.0")
    assert weights(world) == [100, 0] and world.cluster.scaled[-1] == ("podinfo", 0)
    assert "podinfo.test: halt advancement, success rate 69.17% < 99%" in world.subjects()
    assert world.ctx.telemetry.registry.get_sample_value(
        "flagger_canary_failures_total",
        {"name": "podinfo", "namespace": "test", "deployment_strategy": "canary",
         "analysis_status": "completed"},
    ) == 1.0


def test_prometheus_down_counts_failed_checks_and_never_promotes(world: World, tmp_path: Path) -> None:
    world.initialized()
    world.set_image("6.0.1")
    # nothing listens on the discard port
    world.ctx = dataclasses.replace(world.ctx, metrics_server="http://127.0.0.1:9")

    world.until("Failed")

    assert not any(m.startswith("Copying") for m in world.cluster.messages())
    assert image(world, "podinfo-primary").endswith(":6.0.0")


def test_metrics_are_queried_only_on_steps_that_judge_them(world: World) -> None:
    world.initialized()
    world.steps(3)
    assert world.metrics.queries == []  # nothing to analyse between rollouts

    world.set_image("6.0.1")
    world.steps(2)  # scale up, then pre-rollout: still no analysis
    assert world.metrics.queries == []
    world.step()
    assert len(world.metrics.queries) == 2


def test_an_invalid_canary_is_one_warning_naming_the_field_and_no_step(world: World) -> None:
    world.canary["spec"]["canaryAnalysis"]["stepWeight"] = 0

    first, second = world.steps(2)

    assert first.skipped == "invalid" and "spec.canaryAnalysis.stepWeight" in first.error
    assert second.skipped == "invalid"
    (event,) = world.cluster.events
    assert event.warning and event.reason == "InvalidSpec" and "stepWeight" in event.message
    assert not world.cluster.applies and "status" not in world.canary

    world.canary["spec"]["canaryAnalysis"]["stepWeight"] = 10
    assert world.step().stepped


def test_a_missing_target_is_an_error_outcome_without_a_commit(world: World) -> None:
    del world.cluster.objects[("Deployment", "test", "podinfo")]

    outcome = world.step()

    assert not outcome.stepped and "target deployment podinfo.test not found" in outcome.error
    assert world.subjects() == []


def test_an_unreachable_api_server_is_an_error_outcome_and_nothing_is_recorded(world: World) -> None:
    world.initialized()
    commits = len(world.subjects())
    world.cluster.down = True

    outcome = world.step()

    assert not outcome.stepped and "connection refused" in outcome.error
    assert len(world.subjects()) == commits


def test_a_step_retried_after_a_lost_status_write_is_not_committed_twice(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    before = world.canary["status"]
    first = world.step()
    world.canary["status"] = before  # the status patch "never happened"
    commits = len(world.subjects())

    retried = world.step()

    assert retried.stepped and first.commit is not None
    assert retried.commit == first.commit  # the step's own commit, found by its Step-Id, not a new one
    assert len(world.subjects()) == commits
    assert world.status["phase"] == "Progressing"
    assert world.status["lastCommit"] == first.commit


def test_routes_edited_behind_our_back_are_drift_reported_and_put_back(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.steps(2)  # scaled up, then weight 10
    vs = world.cluster.obj("VirtualService", "podinfo")
    vs["spec"]["http"][0]["route"][0]["weight"] = 0
    vs["spec"]["http"][0]["route"][1]["weight"] = 100
    world.metrics.success_rate = 50.0  # a halt: the step changes no route itself

    world.step()

    assert weights(world) == [90, 10]
    drift = [e for e in world.cluster.events if e.message.startswith("Drift detected")]
    assert drift and drift[0].warning and "VirtualService podinfo.test" in drift[0].message
    assert world.ctx.telemetry.registry.get_sample_value(
        "gitflagger_drift_total", {"name": "podinfo", "namespace": "test", "kind": "VirtualService"}
    ) == 1.0


def test_a_halt_that_changes_nothing_is_not_committed_even_under_a_new_revision(world: World) -> None:
    world.initialized()
    world.cluster.unready.add("podinfo-primary")  # the primary's HPA is still scaling it
    world.set_image("6.0.1")
    commits = len(world.subjects())

    halted = world.step()

    assert halted.stepped and halted.commit is None
    assert halted.decision is not None and not halted.decision.changed
    assert len(world.subjects()) == commits
    assert world.cluster.messages()[-1].startswith("Halt podinfo.test advancement")
    world.cluster.unready.clear()
    assert world.step().commit is not None


def test_a_changed_configmap_is_a_new_revision_and_the_primary_gets_its_copy(world: World) -> None:
    world.cluster.put({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "podinfo-env", "namespace": "test"}, "data": {"color": "blue"}})
    container = world.cluster.obj("Deployment", "podinfo")["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "podinfo-env"}}]
    world.initialized()
    copy = world.cluster.obj("ConfigMap", "podinfo-env-primary")
    assert copy["data"] == {"color": "blue"}
    primary = world.cluster.obj("Deployment", "podinfo-primary")["spec"]["template"]["spec"]
    assert primary["containers"][0]["envFrom"] == [{"configMapRef": {"name": "podinfo-env-primary"}}]
    assert set(world.status["trackedConfigs"]) == {"configmap/podinfo-env"}

    world.cluster.obj("ConfigMap", "podinfo-env")["data"] = {"color": "green"}
    world.step()
    assert world.cluster.messages()[-1] == "New revision detected! Scaling up podinfo.test"
    # the primary keeps its copy until the promotion
    assert world.cluster.obj("ConfigMap", "podinfo-env-primary")["data"] == {"color": "blue"}

    world.until("Succeeded")
    assert world.cluster.obj("ConfigMap", "podinfo-env-primary")["data"] == {"color": "green"}
