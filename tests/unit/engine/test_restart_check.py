"""A controller that starts on an empty cache checks each Canary's live state against the remote first.

The remote is a bare repository reached through a
:class:`~gitflagger.adapters.git.RemoteRecorder`; each "restart" is a new
controller with a new cache directory, as the shipped ``emptyDir`` gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder, StepTrailers
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.engine.controller import Controller
from gitflagger.engine.restart import REASON
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        w = World(tmp_path, prometheus, hooks)
        remote = tmp_path / "remote.git"
        pygit2.init_repository(str(remote), bare=True, initial_head="main")
        w.remote = remote  # type: ignore[attr-defined]
        yield w


def restart(world: World, name: str) -> Controller:
    """A new process: a new cache of the remote, a new controller, its first pass run."""
    remote = RemoteConfig(str(world.remote))  # type: ignore[attr-defined]
    recorder = RemoteRecorder(remote, cache_root=world.repo_path.parent / name)
    world.ctx = dataclasses.replace(world.ctx, recorder=recorder, intents=IntentStore(recorder.repo))
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    return c


def remote_steps(world: World) -> list[tuple[str, StepTrailers]]:
    repo = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    head = repo.references["refs/heads/main"].target
    out = []
    for commit in repo.walk(head):
        trailers = StepTrailers.from_message(commit.message)
        if trailers is not None:
            out.append((str(commit.id), trailers))
    return out


def progress_to_weight_10(world: World) -> None:
    c = restart(world, "cache-1")
    for _ in range(12):
        c.run_pass()
        world.now += timedelta(minutes=1)
        if world.status.get("phase") == "Initialized":
            world.set_image("6.0.1")
        if world.status.get("canaryWeight") == 10:
            return
    raise AssertionError(f"never reached weight 10: {world.status}")


def test_a_restart_whose_live_state_is_on_the_remote_records_nothing_extra(world: World) -> None:
    progress_to_weight_10(world)
    before = remote_steps(world)

    restart(world, "cache-2").run_pass()

    assert not [e for e in world.cluster.events if e.reason == REASON]
    repo = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    after = remote_steps(world)
    assert after[len(after) - len(before):] == before
    assert not any("recorded the live state" in repo[sha].message for sha, _ in after)


def test_live_weights_the_remote_lacks_are_recorded_as_a_commit_before_stepping(world: World) -> None:
    progress_to_weight_10(world)
    # What an older gitflagger could leave behind: weight 20 applied and reported, its push lost.
    vs = world.cluster.obj("VirtualService", "podinfo")
    vs["spec"]["http"][0]["route"][0]["weight"] = 80
    vs["spec"]["http"][0]["route"][1]["weight"] = 20
    world.canary["status"]["canaryWeight"] = 20
    world.canary["status"]["lastCommit"] = "0123456789abcdef0123456789abcdef01234567"
    world.now += timedelta(seconds=1)  # not due yet: only the check runs

    restart(world, "cache-2").run_pass()

    warnings = [e for e in world.cluster.events if e.reason == REASON]
    assert len(warnings) == 1 and warnings[0].warning
    assert "status.lastCommit 0123456789ab is not on the config repo's remote" in warnings[0].message
    steps = remote_steps(world)
    restated = [(sha, t) for sha, t in steps if t.canary_weight == 20]
    assert len(restated) == 1 and restated[0][1].primary_weight == 80
    repo = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    assert "recorded the live state after a restart" in repo[restated[0][0]].message
    assert steps[0][1].canary_weight == 30  # then stepping went on from the recorded state
    assert world.status["lastCommit"] == steps[0][0]
    ids = [t.step_id for _, t in steps]
    assert len(ids) == len(set(ids))

    world.now += timedelta(minutes=1)
    restart(world, "cache-3").run_pass()  # again: all on the remote now, nothing more to record
    assert len([e for e in world.cluster.events if e.reason == REASON]) == 1


def test_live_weights_off_both_the_status_commit_and_the_remotes_last_step_are_recorded(world: World) -> None:
    progress_to_weight_10(world)
    vs = world.cluster.obj("VirtualService", "podinfo")
    vs["spec"]["http"][0]["route"][0]["weight"] = 70
    vs["spec"]["http"][0]["route"][1]["weight"] = 30

    restart(world, "cache-2").run_pass()

    warnings = [e for e in world.cluster.events if e.reason == REASON]
    assert len(warnings) == 1 and "the live canary weight 30" in warnings[0].message
    assert 30 in [t.canary_weight for _, t in remote_steps(world)]
