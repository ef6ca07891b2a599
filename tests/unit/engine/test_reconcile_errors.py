"""The engine's error paths: each is one outcome or one log line, and the rollout (or the others) go on."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder, RecordedStep, RecordResult
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.git.recorder import Persisted
from gitflagger.adapters.git.snapshot import recorded_status
from gitflagger.adapters.git.tree import replace_directory
from gitflagger.engine.controller import Controller
from gitflagger.engine.finalize import FINALIZER, prepare_finalize
from gitflagger.engine.reconcile import ApplyMode
from gitflagger.errors import PermanentError, TemporaryError
from tests.unit.adapters.loopback import LoopbackServer, Reply
from tests.unit.engine.podinfo_world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield World(tmp_path, prometheus, hooks)


def analysis(world: World) -> dict[str, object]:
    spec: dict[str, object] = world.canary["spec"]["canaryAnalysis"]
    return spec


def test_events_refused_by_the_api_server_do_not_stop_the_step(world: World) -> None:
    world.cluster.events_fail = True
    world.initialized()
    assert world.status["phase"] == "Initialized" and world.cluster.events == []


def test_a_missing_metric_template_is_a_failed_check_naming_it(world: World) -> None:
    metric = {"name": "errors", "templateRef": {"name": "nope"}, "thresholdRange": {"max": 1}}
    analysis(world)["metrics"] = [metric]
    world.initialized()
    world.set_image("6.0.1")
    world.steps(3)
    named = [m for m in world.cluster.messages() if "nope" in m]
    # Flagger's availability check names it on each of the two initializing passes, then the analysis
    check = "Error checking metric providers: metric template nope.test error: not found or not valid"
    assert named[:2] == [check, check]
    failing = named[2:]
    assert failing and "MetricTemplate test/nope not found" in failing[0]
    assert world.status["failedChecks"] == 1


def test_alerts_go_to_their_provider_and_a_missing_provider_is_only_logged(world: World) -> None:
    with LoopbackServer() as slack:
        world.cluster.put({
            "apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
            "metadata": {"name": "on-call", "namespace": "test"},
            "spec": {"type": "slack", "address": slack.url + "/hook"},
        })
        analysis(world)["alerts"] = [
            {"name": "gone", "severity": "info", "providerRef": {"name": "missing"}},
            {"name": "team", "severity": "info", "providerRef": {"name": "on-call"}},
        ]
        world.initialized()
        world.set_image("6.0.1")
        world.step()
    assert any("New revision detected" in str(r.json()) for r in slack.requests)
    assert world.status["phase"] == "Progressing"


def test_a_chat_service_that_fails_does_not_stop_the_step(world: World) -> None:
    with LoopbackServer() as slack:
        slack.script(Reply(500))
        world.cluster.put({
            "apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
            "metadata": {"name": "on-call", "namespace": "test"},
            "spec": {"type": "slack", "address": slack.url + "/hook"},
        })
        analysis(world)["alerts"] = [{"name": "team", "severity": "info", "providerRef": {"name": "on-call"}}]
        world.ctx = dataclasses.replace(world.ctx, reporting=type(world.ctx.reporting)())
        world.initialized()
        world.set_image("6.0.1")
        assert world.step().stepped
    assert slack.requests
    failures = world.ctx.telemetry.registry.get_sample_value(
        "gitflagger_alert_failures_total", {"name": "podinfo", "namespace": "test", "service": "slack"}
    )
    assert failures is not None and failures >= 1


def test_a_primary_deleted_behind_our_back_is_initialized_again(world: World) -> None:
    world.initialized()
    del world.cluster.objects[("Deployment", "test", "podinfo-primary")]

    outcome = world.step()

    assert outcome.decision is not None and outcome.commit is not None
    assert world.status["phase"] == "Initializing"
    assert ("Deployment", "test", "podinfo-primary") in world.cluster.objects


def test_git_only_mode_waits_while_the_primary_does_not_exist(world: World) -> None:
    world.initialized()
    world.ctx = dataclasses.replace(world.ctx, apply_mode=ApplyMode.GIT_ONLY)
    del world.cluster.objects[("Deployment", "test", "podinfo-primary")]
    outcome = world.step()
    assert not outcome.stepped and "podinfo-primary does not exist yet" in outcome.skipped


class FlakyRecorder:
    """A recorder whose push fails: the step is committed locally, the push retried next pass."""

    def __init__(self, inner: GitRecorder, error: Exception) -> None:
        self.inner, self.error, self.push_retries, self.syncs = inner, error, 0, 0

    def record(self, step: RecordedStep) -> RecordResult:
        return self.inner.record(step)

    def begin(self) -> None:
        self.inner.begin()

    def persist(self) -> Persisted:
        return self.inner.persist()

    def publish(self, persisted: Persisted) -> Persisted:
        return persisted  # the push is what fails, at flush

    def discard(self) -> None:
        self.inner.discard()

    def intents(self) -> IntentStore:
        return self.inner.intents()

    def sync(self) -> None:
        self.syncs += 1
        raise TemporaryError("git: fetch failed")

    def flush(self) -> None:
        self.push_retries += 2
        raise self.error


@pytest.mark.parametrize("error", [TemporaryError("git: push timed out"), PermanentError("git: refused")])
def test_a_failed_fetch_or_push_is_logged_and_the_pass_completes(world: World, error: Exception) -> None:
    flaky = FlakyRecorder(world.recorder, error)
    world.ctx = dataclasses.replace(world.ctx, recorder=flaky)
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()

    (outcome,) = c.run_pass()

    assert outcome.stepped and outcome.commit is not None and flaky.syncs == 1
    assert world.ctx.telemetry.registry.get_sample_value("gitflagger_push_retries_total") == 2.0


def test_finalizing_an_invalid_canary_or_one_without_target_just_lets_go(world: World) -> None:
    world.canary["spec"]["revertOnDeletion"] = True  # without it (ssa mode) the finalizer just goes
    world.canary["metadata"]["finalizers"] = [FINALIZER]
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:00:00Z"
    world.canary["spec"]["canaryAnalysis"]["stepWeight"] = 0
    assert prepare_finalize(world.ctx, world.canary) == (True, "invalid Canary: nothing to revert")


def test_finalizing_without_a_target_lets_go(world: World) -> None:
    world.canary["spec"]["revertOnDeletion"] = True  # without it (ssa mode) the finalizer just goes
    world.canary["metadata"]["finalizers"] = [FINALIZER]
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:00:00Z"
    del world.cluster.objects[("Deployment", "test", "podinfo")]
    assert prepare_finalize(world.ctx, world.canary) == (True, "target gone: nothing to revert")
    assert ("Canary", "test", "podinfo") not in world.cluster.objects


def test_a_failing_finalizer_backs_off_and_tries_again(world: World) -> None:
    world.canary["spec"]["revertOnDeletion"] = True
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass()
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    c.sync()
    world.cluster.down = True
    (failed,) = c.run_pass()
    assert "connection refused" in failed.error
    world.cluster.down = False
    assert c.run_pass() == []  # backing off
    world.now += timedelta(seconds=10)
    assert c.run_pass()[0].skipped.startswith("deleting: ")


def test_a_canary_that_lost_its_status_resumes_from_the_config_repo(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.steps(2)  # Progressing at weight 10
    del world.canary["status"]
    commits = len(world.subjects())

    resumed = world.step()

    assert resumed.decision is not None
    assert resumed.decision.subject == "podinfo.test: advance canary weight 20"
    assert world.status["canaryWeight"] == 20 and len(world.subjects()) == commits + 1
    assert not any("initializing" in s for s in world.subjects()[2:])


def test_an_unreadable_snapshot_is_ignored_and_the_canary_initializes(world: World) -> None:
    assert recorded_status(world.recorder.repo, "test", "podinfo") is None  # no branch yet
    world.step()
    repo = world.recorder.repo
    head = repo.references["refs/heads/main"].peel(pygit2.Commit)
    folder = head.tree["local"]["test"]["podinfo"]
    builder = repo.TreeBuilder(folder)
    builder.insert("canary.yaml", repo.create_blob(b"status: [unclosed\n"), pygit2.enums.FileMode.BLOB)
    root = replace_directory(repo, head.tree, ("local", "test", "podinfo"), builder.write())
    sig = pygit2.Signature("someone", "someone@example.com")
    repo.create_commit("refs/heads/main", sig, sig, "hand edit", root, [head.id])

    assert recorded_status(repo, "test", "podinfo") is None
    del world.canary["status"]
    assert world.step().decision is not None
    assert world.status["phase"] == "Initializing"


OFFLINE = "Error checking metric providers: prometheus not avaiable: online check failed"


def test_providers_are_checked_while_initializing_and_an_offline_one_never_promotes(world: World) -> None:
    """Flagger's checkMetricProviderAvailability: on each initializing pass, one Warning, no alert."""
    world.metrics.online = False
    world.initialized()
    assert world.cluster.messages() == [OFFLINE, OFFLINE, "Initialization done! podinfo.test"]
    assert world.metrics.queries == ["vector(1)", "vector(1)"]  # the check, nothing else yet
    assert world.status["phase"] == "Initialized"  # as in Flagger, the check informs, it does not halt
    world.set_image("6.0.1")
    world.until("Failed")  # the analysis asks the same server: every check fails, none promotes
    assert world.cluster.messages().count(OFFLINE) == 2  # checked while initializing only
    assert "Copying podinfo.test template spec to podinfo-primary.test" not in world.cluster.messages()


def test_providers_are_not_checked_when_analysis_is_skipped_or_once_initialized(world: World) -> None:
    world.canary["spec"]["skipAnalysis"] = True
    world.metrics.online = False
    world.initialized()
    assert OFFLINE not in world.cluster.messages() and world.metrics.queries == []
