"""git-only mode: a Canary deleted without ``revertOnDeletion`` commits its directory's removal once.

The finalizer is held on every Canary in git-only mode (engine/prune.py); deletion records one step
removing the directory, pushes it, nudges Flux and only then releases the finalizer. The same with
Flux's own controllers pruning is in tests/integration/test_flux_gitops.py.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import StepTrailers
from gitflagger.adapters.git import remote_recorder as remote_module
from gitflagger.adapters.git.tree import read_directory
from gitflagger.engine.controller import Controller
from gitflagger.engine.finalize import FINALIZER
from gitflagger.engine.reconcile import ApplyMode
from gitflagger.errors import TemporaryError
from tests.unit.engine.podinfo_world import World
from tests.unit.engine.test_git_only_flux import kustomization, nudged
from tests.unit.engine.test_git_only_flux import world as flux_world  # noqa: F401 (fixture)
from tests.unit.engine.test_push_before_apply import recording_to_a_remote
from tests.unit.engine.test_reconcile_modes import flux as play_flux

DIRECTORY = ("local", "test", "podinfo")


@pytest.fixture
def world(flux_world: World) -> World:  # noqa: F811
    flux_world.cluster.put(kustomization("canaries", "./local"))
    return flux_world


@pytest.fixture
def remote_world(world: World, tmp_path: Path) -> World:
    """The same, recording into a cache of a bare "remote" (a push can fail)."""
    return recording_to_a_remote(world, tmp_path)


def head_of(repo: pygit2.Repository) -> pygit2.Commit:
    return repo.references["refs/heads/main"].peel(pygit2.Commit)


def canary_present(world: World) -> bool:
    return ("Canary", "test", "podinfo") in world.cluster.objects


def started(world: World) -> Controller:
    """A controller that has recorded (and, playing Flux, applied) the Canary's first step."""
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass()
    return c


def delete(world: World, c: Controller) -> None:
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    world.cluster.annotated.clear()
    world.now += timedelta(seconds=5)
    c.sync()


def removals(repo: pygit2.Repository) -> list[pygit2.Commit]:
    """Commits on the branch that removed the Canary's directory."""
    out = []
    for commit in repo.walk(head_of(repo).id):
        before = read_directory(commit.parents[0].tree, DIRECTORY) if commit.parents else None
        if before is not None and read_directory(commit.tree, DIRECTORY) is None:
            out.append(commit)
    return out


def test_git_only_holds_the_finalizer_without_revert_on_deletion(world: World) -> None:
    started(world)
    assert FINALIZER in world.canary["metadata"]["finalizers"]


def test_ssa_mode_still_holds_no_finalizer_without_revert_on_deletion(world: World) -> None:
    world.ctx = dataclasses.replace(world.ctx, apply_mode=ApplyMode.SSA, flux=None)
    started(world)
    assert FINALIZER not in (world.canary["metadata"].get("finalizers") or [])


def test_a_deleted_canary_commits_one_removal_of_its_directory_nudges_flux_and_is_released(
    world: World,
) -> None:
    c = started(world)
    play_flux(world)
    repo = world.recorder.repo
    assert read_directory(head_of(repo).tree, DIRECTORY) is not None
    delete(world, c)

    c.run_pass()

    head = head_of(repo)
    assert read_directory(head.tree, DIRECTORY) is None and removals(repo) == [head]
    assert read_directory(head.tree, DIRECTORY[:-1]) is not None  # .keep: Flux's path still exists
    trailers = StepTrailers.from_message(head.message)
    assert trailers is not None and trailers.canary == "test/podinfo" and trailers.phase == "Terminated"
    assert "remove its directory" in head.message.split("\n", 1)[0]
    assert nudged(world) == ["GitRepository flux-system/config", "Kustomization flux-system/canaries"]
    assert not canary_present(world)  # the finalizer released: garbage collection goes on


def test_a_restart_after_the_removal_releases_the_finalizer_without_a_second_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = started(world)
    delete(world, c)

    def crash(canary: Any, name: str) -> Any:
        raise RuntimeError("killed before the finalizer went")

    with monkeypatch.context() as m:
        m.setattr(world.cluster, "remove_finalizer", crash)
        c.run_pass()
    repo = world.recorder.repo
    head = head_of(repo)
    assert canary_present(world) and removals(repo) == [head]

    world.now += timedelta(minutes=1)
    restarted = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    restarted.sync()
    restarted.run_pass()

    assert head_of(repo).id == head.id and not canary_present(world)


def test_a_failed_push_keeps_the_finalizer_and_the_retry_records_the_removal_once(
    remote_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = remote_world
    c = started(world)
    remote = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    before = head_of(remote).id
    delete(world, c)

    def network_down(*args: Any, **kwargs: Any) -> Any:
        raise TemporaryError("git: remote: connection refused")

    with monkeypatch.context() as m:
        m.setattr(remote_module.transport, "push", network_down)
        (outcome,) = c.run_pass()

    assert "connection refused" in outcome.error
    assert canary_present(world) and FINALIZER in world.canary["metadata"]["finalizers"]
    assert head_of(remote).id == before and read_directory(head_of(remote).tree, DIRECTORY) is not None
    assert not [e for e in world.cluster.events if e.message.startswith("Deleted ")]

    world.now += timedelta(minutes=1)  # past the retry backoff
    c.sync()
    c.run_pass()

    remote = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    assert read_directory(head_of(remote).tree, DIRECTORY) is None
    assert removals(remote) == [head_of(remote)]  # recorded once, held in the cache, then pushed
    assert not canary_present(world)


def test_a_canary_deleted_after_a_switch_to_ssa_mode_is_released_without_a_commit_or_a_revert(
    world: World,
) -> None:
    c = started(world)  # git-only: the finalizer is on
    world.ctx = dataclasses.replace(world.ctx, apply_mode=ApplyMode.SSA, flux=None)
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    repo = world.recorder.repo
    head = head_of(repo).id
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    c.sync()

    c.run_pass()

    assert not canary_present(world) and head_of(repo).id == head
    assert not [m for m in world.cluster.messages() if m.startswith(("Terminating", "Deleted"))]
