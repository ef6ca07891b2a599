"""The Context is configuration and wiring, set once; what changes per Canary is the controller's memory."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitflagger.engine.context import CanaryMemory
from gitflagger.engine.controller import Controller
from gitflagger.engine.reconcile import ApplyMode, LeadershipLost
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World
from tests.unit.engine.test_reconcile_controller import FakeElector


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield World(tmp_path, prometheus, hooks)


def test_a_context_cannot_be_changed_once_built(world: World) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        world.ctx.apply_mode = ApplyMode.GIT_ONLY  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        world.ctx.guard = lambda: None  # type: ignore[misc]
    variant = dataclasses.replace(world.ctx, apply_mode=ApplyMode.GIT_ONLY)
    assert variant.apply_mode is ApplyMode.GIT_ONLY and world.ctx.apply_mode is ApplyMode.SSA
    assert variant.alert_providers is world.ctx.alert_providers  # wiring carries over


def test_a_leader_electing_controller_guards_its_own_copy(world: World) -> None:
    given = world.ctx
    elector = FakeElector()
    c = Controller(world.cluster, given, elector=elector)  # type: ignore[arg-type]
    assert c.ctx is not given and given.guard() is None  # the Context handed in is untouched
    elector.leading = False
    with pytest.raises(LeadershipLost):
        c.ctx.guard()
    assert Controller(world.cluster, given).ctx is given  # no election: the Context as it is


def test_the_controller_owns_the_memory_and_forgets_a_deleted_canary(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass(everything=True)
    c.run_pass(everything=True)
    assert "test/podinfo" in c.memory.applied  # what the last step applied: drift is measured against it
    c.forget(copy.deepcopy(world.canary))
    assert "test/podinfo" not in c.memory.applied


def test_memory_forget_drops_every_kind_of_memory() -> None:
    memory = CanaryMemory({"a/b": {"Service/x": "1"}}, {"a/b": "bad"}, {"a/b": "boom"})
    memory.forget("a/b")
    assert memory == CanaryMemory()
