"""The controller's pass in two phases: record every due step as one batch, persist it, only then apply."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import StepTrailers
from gitflagger.adapters.git.maintenance import pack_count
from gitflagger.engine.controller import Controller
from gitflagger.engine.reconcile import LeadershipLost
from gitflagger.errors import TemporaryError
from gitflagger.render import Manifest
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World

NAMES = ("podinfo", "frontend", "backend")


class Killed(BaseException):
    """Stands for the process dying mid-pass (SIGKILL): nothing after it runs."""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        w = World(tmp_path, prometheus, hooks)
        w.recorder.maintenance.threshold = 0
        for name in NAMES[1:]:
            target = copy.deepcopy(w.cluster.obj("Deployment", "podinfo"))
            target["metadata"] = {"name": name, "namespace": "test", "labels": {"app": name}}
            target["spec"]["selector"] = {"matchLabels": {"app": name}}
            target["spec"]["template"]["metadata"]["labels"] = {"app": name}
            w.cluster.put(target)
            canary = copy.deepcopy(w.canary)
            canary["metadata"] = {"name": name, "namespace": "test"}
            canary["spec"]["targetRef"]["name"] = name
            canary["spec"].pop("autoscalerRef", None)
            canary["spec"]["service"].pop("name", None)
            w.cluster.put(canary)
        yield w


def branch_head(world: World) -> str | None:
    ref = pygit2.Repository(str(world.repo_path)).references.get("refs/heads/main")
    return str(ref.target) if ref is not None else None


def step_ids(world: World) -> Counter[str]:
    found: Counter[str] = Counter()
    for commit in world.commits():
        trailers = StepTrailers.from_message(commit.message)
        if trailers is not None:
            found[trailers.step_id] += 1
    return found


def watch_applies(world: World, hook: Any = None) -> list[str | None]:
    """Record the branch head on disk at every apply (and call ``hook`` first)."""
    seen: list[str | None] = []
    original = world.cluster.apply

    def apply(manifests: Sequence[Manifest], *, dry_run: bool = False) -> Any:
        if hook is not None:
            hook()
        seen.append(branch_head(world))
        return original(manifests, dry_run=dry_run)

    world.cluster.apply = apply  # type: ignore[method-assign]
    return seen


def test_every_step_of_a_pass_is_durable_before_the_first_apply(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    heads = watch_applies(world)

    outcomes = c.run_pass()

    assert sorted(o.canary for o in outcomes if o.stepped) == sorted(f"test/{n}" for n in NAMES)
    final = branch_head(world)
    assert heads and set(heads) == {final}  # every apply saw the pass's whole batch on disk
    assert {o.commit for o in outcomes} <= {str(c.id) for c in world.commits()}
    assert pack_count(world.recorder.repo.path) == 1  # one pack for the pass
    assert all(count == 1 for count in step_ids(world).values())


def test_a_crash_before_the_persist_loses_nothing_applied_and_the_retry_records_once(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    recorded: list[str | None] = []
    original = world.recorder.record

    def dies_at_the_third_record(step: Any) -> Any:
        if len(recorded) == 2:
            raise Killed()
        result = original(step)
        recorded.append(result.commit_id)
        return result

    world.recorder.record = dies_at_the_third_record  # type: ignore[method-assign]
    with pytest.raises(Killed):
        c.run_pass()

    assert len(recorded) == 2 and all(recorded)
    assert branch_head(world) is None  # two steps were recorded, in memory only
    assert world.cluster.applies == 0
    world.recorder.record = original  # type: ignore[method-assign]

    restarted = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    restarted.sync()
    assert len([o for o in restarted.run_pass() if o.stepped]) == 3
    ids = step_ids(world)
    assert len(ids) == 3 and all(count == 1 for count in ids.values())


def test_a_crash_after_the_persist_records_nothing_twice(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass()  # initialization starts everywhere, fully applied
    world.now += timedelta(minutes=1)

    def die() -> None:
        raise Killed()

    watch_applies(world, hook=die)
    with pytest.raises(Killed):
        c.run_pass()
    persisted = step_ids(world)
    assert len(persisted) == 6  # the second pass's batch is on disk, nothing of it applied

    world.cluster.apply = type(world.cluster).apply.__get__(world.cluster)  # type: ignore[method-assign]
    restarted = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    restarted.sync()
    outcomes = restarted.run_pass()

    assert len([o for o in outcomes if o.stepped]) == 3
    assert step_ids(world) == persisted  # the same steps decided again: found at the head, none twice
    assert all(count == 1 for count in persisted.values())
    assert {world.cluster.obj("Canary", n)["status"]["phase"] for n in NAMES} == {"Initialized"}


def test_a_failed_persist_applies_nothing_and_the_next_pass_records_each_step_once(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    recorder = world.recorder
    original = recorder.persist

    def fails() -> Any:
        recorder.discard()
        raise TemporaryError("git: disk full")

    recorder.persist = fails  # type: ignore[method-assign]
    outcomes = c.run_pass()
    recorder.persist = original  # type: ignore[method-assign]

    assert [o.error for o in outcomes] == ["git: disk full"] * 3
    assert world.cluster.applies == 0 and branch_head(world) is None

    world.now += timedelta(minutes=1)
    assert len([o for o in c.run_pass() if o.stepped]) == 3
    ids = step_ids(world)
    assert len(ids) == 3 and all(count == 1 for count in ids.values())


def test_leadership_lost_during_the_pass_writes_nothing_of_it(world: World) -> None:
    class Elector:
        leading = True

        @property
        def is_leader(self) -> bool:
            return self.leading

    elector = Elector()
    c = Controller(world.cluster, world.ctx, elector=elector)  # type: ignore[arg-type]
    c.sync()
    original = world.recorder.record

    def lose_the_lease_after_recording(step: Any) -> Any:
        result = original(step)
        elector.leading = False  # the lease expires while the pass is still recording
        return result

    world.recorder.record = lose_the_lease_after_recording  # type: ignore[method-assign]
    with pytest.raises(LeadershipLost):
        c.run_pass()

    assert branch_head(world) is None and world.cluster.applies == 0
    assert not world.recorder.batching


def test_a_pass_goes_in_chunks_each_durable_before_its_applies(world: World) -> None:
    c = Controller(world.cluster, world.ctx, batch_size=2)  # type: ignore[arg-type]
    c.sync()
    heads = watch_applies(world)

    outcomes = c.run_pass()

    assert sorted(o.canary for o in outcomes if o.stepped) == sorted(f"test/{n}" for n in NAMES)
    final = branch_head(world)
    assert pack_count(world.recorder.repo.path) == 2  # a chunk of two, then a chunk of one
    first_chunk = {h for h in heads if h != final}
    assert len(first_chunk) == 1 and None not in first_chunk  # the first chunk's applies saw its own pack
    assert heads[-1] == final  # the last chunk's applies came after its persist
    first = pygit2.Repository(str(world.repo_path))[first_chunk.pop()].peel(pygit2.Commit)
    assert len(first.parents) == 1 and len(first.parents[0].parents) == 0  # the first chunk: two steps
    assert {o.commit for o in outcomes} <= {str(c.id) for c in world.commits()}
    assert all(count == 1 for count in step_ids(world).values())


def test_a_crash_in_a_later_chunk_keeps_the_earlier_chunks_applied_and_records_nothing_twice(
    world: World,
) -> None:
    c = Controller(world.cluster, world.ctx, batch_size=2)  # type: ignore[arg-type]
    c.sync()
    recorded: list[str] = []
    original = world.recorder.record

    def dies_in_the_second_chunk(step: Any) -> Any:
        if len(recorded) == 2:
            raise Killed()
        result = original(step)
        recorded.append(step.canary.ref)
        return result

    world.recorder.record = dies_in_the_second_chunk  # type: ignore[method-assign]
    with pytest.raises(Killed):
        c.run_pass()

    assert len(step_ids(world)) == 2  # the first chunk is on disk
    phases = {n: world.cluster.obj("Canary", n).get("status", {}).get("phase") for n in NAMES}
    assert {phases[ref.split("/")[1]] for ref in recorded} == {"Initializing"}  # and applied, reported
    assert [phases[n] for n in NAMES if f"test/{n}" not in recorded] == [None]  # the third: untouched
    assert not world.recorder.batching  # the second chunk's batch was discarded
    world.recorder.record = original  # type: ignore[method-assign]

    restarted = Controller(world.cluster, world.ctx, batch_size=2)  # type: ignore[arg-type]
    restarted.sync()
    assert [o.canary for o in restarted.run_pass() if o.stepped] == [
        f"test/{n}" for n in NAMES if f"test/{n}" not in recorded
    ]  # only the Canary whose step was lost is due
    ids = step_ids(world)
    assert len(ids) == 3 and all(count == 1 for count in ids.values())
    assert {world.cluster.obj("Canary", n)["status"]["phase"] for n in NAMES} == {"Initializing"}
