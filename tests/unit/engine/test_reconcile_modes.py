"""reconcile_one's side roads: manual intents, git-only mode, event and post-rollout webhooks, alerts."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git.intents import read_intent, record_intent
from gitflagger.adapters.notifiers import Slack
from gitflagger.decide import ManualIntent
from gitflagger.engine.reconcile import ApplyMode
from gitflagger.engine.report import Reporting
from gitflagger.model.documents import load_yaml_text
from gitflagger.render import Manifest
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World


@pytest.fixture
def servers() -> Iterator[tuple[LoopbackServer, LoopbackServer]]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield prometheus, hooks


def make(tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer], **ctx: object) -> World:
    return World(tmp_path, *servers, **ctx)


def test_a_promote_intent_is_acted_on_at_the_next_step_and_acknowledged(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    world = make(tmp_path, servers)
    world.initialized()
    world.set_image("6.0.1")
    world.steps(2)  # Progressing at weight 10
    record_intent(world.recorder.repo, "test/podinfo", ManualIntent.PROMOTE)

    world.step()

    assert "Manual promotion requested for podinfo.test" in world.cluster.messages()
    assert world.status["phase"] == "Promoting"
    assert read_intent(world.recorder.repo, "test/podinfo") is None
    assert world.subjects()[-1] == "podinfo.test: promote handled"
    world.until("Succeeded")


def test_an_abort_intent_rolls_back_and_an_ignored_one_is_still_consumed(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    world = make(tmp_path, servers)
    world.initialized()
    record_intent(world.recorder.repo, "test/podinfo", ManualIntent.ABORT)
    world.step()
    assert "Manual abort ignored for podinfo.test: no rollout in progress" in world.cluster.messages()
    assert read_intent(world.recorder.repo, "test/podinfo") is None

    world.set_image("6.0.1")
    world.steps(2)
    record_intent(world.recorder.repo, "test/podinfo", ManualIntent.ABORT)
    world.step()

    assert world.status["phase"] == "Failed"
    assert "Rolling back podinfo.test manual abort requested" in world.cluster.messages()


def test_git_only_mode_applies_nothing_and_waits_for_the_gitops_tool(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    world = make(tmp_path, servers)
    world.initialized()  # objects applied once, as Flux would have by now
    world.ctx = dataclasses.replace(world.ctx, apply_mode=ApplyMode.GIT_ONLY)
    world.set_image("6.0.1")
    world.steps(2)  # scale up (no route change), then weight 10 committed, not applied
    applies = world.cluster.applies
    assert world.status["canaryWeight"] == 10

    waiting = world.step()

    assert not waiting.stepped and "waiting for the committed state" in waiting.skipped
    assert world.cluster.applies == applies
    assert world.subjects()[-1] == "podinfo.test: advance canary weight 10"

    vs = world.cluster.obj("VirtualService", "podinfo")  # the GitOps tool catches up
    vs["spec"]["http"][0]["route"][0]["weight"] = 90
    vs["spec"]["http"][0]["route"][1]["weight"] = 10
    assert world.step().stepped
    assert world.status["canaryWeight"] == 20


def test_events_go_to_the_event_webhook_and_warnings_to_the_chat_notifier(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    with LoopbackServer() as events, LoopbackServer() as slack:
        reporting = Reporting(event_webhook=events.url + "/events", notifier=Slack(slack.url + "/hook"))
        world = make(tmp_path, servers, reporting=reporting)
        world.initialized()
        world.set_image("6.0.2")
        world.metrics.success_rate = 70.0
        world.until("Failed")

    sent = [r.json()["metadata"]["eventMessage"] for r in events.requests]
    assert sent[0] == "Initialization done! podinfo.test"
    assert "Rolling back podinfo.test failed checks threshold reached 5" in sent
    texts = [str(r.json()) for r in slack.requests]
    assert any("New revision detected" in t for t in texts)
    assert any("Canary failed! Scaling down podinfo.test" in t for t in texts)
    assert not any("Initialization done" in t for t in texts)


def test_post_rollout_webhooks_run_after_the_rollout_ends(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    world = make(tmp_path, servers)
    hooks = world.canary["spec"]["canaryAnalysis"]["webhooks"]
    hooks.append({"name": "notify", "type": "post-rollout", "url": world.hooks.url + "/notify"})
    world.initialized()
    world.set_image("6.0.1")

    world.until("Succeeded")

    paths = [r.path for r in world.hooks.requests]
    assert paths.count("/notify") == 1 and paths[-1] == "/notify"
    assert world.hooks.requests[-1].json()["phase"] == "Succeeded"
    checksums = {r.json()["checksum"] for r in world.hooks.requests}
    assert len(checksums) == 1 and re.fullmatch(r"[0-9a-f]{64}", checksums.pop())  # no "sha256:"


def flux(world: World) -> None:
    """Play the GitOps tool: apply every object the config repo's head holds for the Canary."""
    repo = world.recorder.repo
    folder = repo.references["refs/heads/main"].peel(pygit2.Commit).tree["local"]["test"]["podinfo"]
    for entry in folder:
        if entry.name != "canary.yaml":
            (obj,) = load_yaml_text(entry.data.decode())
            world.cluster.apply([Manifest(obj)])


def test_git_only_mode_waits_for_the_committed_primary_template_after_a_promotion(
    tmp_path: Path, servers: tuple[LoopbackServer, LoopbackServer]
) -> None:
    world = make(tmp_path, servers)
    world.initialized()
    world.ctx = dataclasses.replace(world.ctx, apply_mode=ApplyMode.GIT_ONLY)
    world.set_image("6.0.1")
    gitops_until(world, "Promoting")
    primary = world.cluster.obj("Deployment", "podinfo-primary")
    primary["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.0"

    waiting = world.step()  # Flux has not applied the promotion yet

    assert "does not run the committed pod template yet" in waiting.skipped
    flux(world)
    gitops_until(world, "Succeeded")
    assert world.cluster.obj("Deployment", "podinfo-primary")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ].endswith(":6.0.1")


def gitops_until(world: World, phase: str) -> None:
    for _ in range(20):
        world.step()
        flux(world)
        if world.status["phase"] == phase:
            return
    raise AssertionError(f"never reached {phase}")
