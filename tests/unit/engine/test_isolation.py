"""An unexpected exception in one Canary's step stays with that Canary: the others step, the loop goes on.

Faults are injected where they could really happen (render, record into the
pass's batch, the status write, a finalizer, the batch's persist, the watch) by
wrapping the real function so it raises for the Canary named ``poison`` only.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gitflagger.engine import controller as controller_module
from gitflagger.engine import reconcile
from gitflagger.engine.controller import STUCK_FLOOR, Controller
from gitflagger.engine.faults import REASON, describe
from gitflagger.engine.finalize import FINALIZER
from gitflagger.engine.reconcile import StepOutcome
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        w = World(tmp_path, prometheus, hooks)
        poison = copy.deepcopy(w.canary)
        poison["metadata"]["name"] = "poison"
        w.cluster.put(poison)
        yield w


def poisoned(real: Callable[..., Any], err: Exception, name_of: Callable[..., str]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if name_of(*args, **kwargs) == "poison":
            raise err
        return real(*args, **kwargs)

    return call


def errors(world: World, name: str) -> float | None:
    return world.ctx.telemetry.registry.get_sample_value(
        "gitflagger_reconcile_errors_total", {"namespace": "test", "name": name}
    )


def warnings(world: World, name: str) -> list[str]:
    return [e.message for e in world.cluster.events if e.canary == f"test/{name}" and e.reason == REASON]


def by_name(outcomes: list[StepOutcome]) -> dict[str, StepOutcome]:
    return {o.canary.partition("/")[2]: o for o in outcomes}


def started(world: World) -> Controller:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    return c


@pytest.mark.parametrize(
    ("where", "stage", "err"),
    [
        ("plan_step", "preparing the step", RecursionError("maximum recursion depth exceeded")),
        ("write_status", "finishing the step", KeyError("status")),
        ("read_live", "preparing the step", TypeError("'NoneType' object is not subscriptable")),
    ],
    ids=["render", "status-write", "observe"],
)
def test_an_unexpected_error_is_a_warning_on_that_canary_and_the_other_steps(
    world: World, monkeypatch: pytest.MonkeyPatch, where: str, stage: str, err: Exception
) -> None:
    real = getattr(reconcile, where)
    name_of: Callable[..., str] = (
        (lambda canary, *a, **k: canary.name)
        if where == "plan_step"
        else (lambda cluster, obj, *a, **k: obj.name if hasattr(obj, "name") else obj["metadata"]["name"])
    )
    monkeypatch.setattr(reconcile, where, poisoned(real, err, name_of))
    c = started(world)

    outcomes = by_name(c.run_pass())

    assert outcomes["podinfo"].stepped and not outcomes["podinfo"].error
    assert world.status["phase"] == "Initializing"
    assert outcomes["poison"].error == describe(stage, err)
    assert warnings(world, "poison") == [describe(stage, err)]
    assert "\n" not in warnings(world, "poison")[0] and "Traceback" not in warnings(world, "poison")[0]
    assert errors(world, "poison") == 1
    assert errors(world, "podinfo") is None

    world.now += timedelta(minutes=1)
    c.sync()
    again = by_name(c.run_pass())
    assert again["podinfo"].stepped  # the loop went on: initialization done
    assert errors(world, "poison") == 2  # counted every time...
    assert len(warnings(world, "poison")) == 1  # ...but one Event until the line changes


def test_a_record_that_fails_part_way_keeps_the_others_steps_of_the_batch(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The poison Canary comes between two healthy ones in the same batch."""
    third = copy.deepcopy(world.canary)
    third["metadata"]["name"] = "third"
    world.cluster.put(third)
    recorder = world.recorder
    monkeypatch.setattr(
        recorder, "record", poisoned(recorder.record, KeyError("Step-Id"), lambda step: step.canary.name)
    )
    c = started(world)

    outcomes = by_name(c.run_pass())

    assert [n for n, o in sorted(outcomes.items()) if o.stepped] == ["podinfo", "third"]
    assert outcomes["poison"].error == "preparing the step failed: KeyError: 'Step-Id'"
    subjects = world.subjects()
    assert sum("podinfo.test" in s for s in subjects) == 1
    assert sum("third.test" in s for s in subjects) == 1
    assert not any("poison.test" in s for s in subjects)
    # nothing of the poison Canary was applied: its status was never written either
    assert "status" not in world.cluster.obj("Canary", "poison")


def test_a_persist_that_raises_unexpectedly_applies_nothing_and_the_next_pass_steps(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = world.recorder
    real = recorder.persist

    def persist() -> Any:
        recorder.discard()  # as the real one leaves it: the batch closed, its commits gone
        raise MemoryError("pack")

    monkeypatch.setattr(recorder, "persist", persist)
    c = started(world)

    outcomes = c.run_pass()

    assert outcomes and all(o.error for o in outcomes)
    assert world.subjects() == []
    assert world.cluster.applies == 0
    monkeypatch.setattr(recorder, "persist", real)
    world.now += timedelta(minutes=1)
    assert all(o.stepped for o in c.run_pass())


def test_a_finalizer_that_raises_is_confined_to_its_canary(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    poison = world.cluster.obj("Canary", "poison")
    poison["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    poison["metadata"]["finalizers"] = [FINALIZER]
    real = controller_module.prepare_finalize
    monkeypatch.setattr(
        controller_module, "prepare_finalize",
        poisoned(real, AttributeError("'NoneType' object has no attribute 'name'"),
                 lambda ctx, obj, **_: obj["metadata"]["name"]),
    )
    c = started(world)

    outcomes = by_name(c.run_pass())

    assert outcomes["podinfo"].stepped
    assert outcomes["poison"].error == (
        "handling its finalizer failed: AttributeError: 'NoneType' object has no attribute 'name'"
    )
    assert warnings(world, "poison") == [outcomes["poison"].error]
    assert errors(world, "poison") == 1


def test_run_never_exits_for_a_pass_that_raises(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    stop = threading.Event()
    c = started(world)
    real = c.run_pass
    calls: list[int] = []

    def flaky(**kw: Any) -> list[StepOutcome]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug outside any one Canary")
        stop.set()
        return real(**kw)

    monkeypatch.setattr(c, "run_pass", flaky)
    monkeypatch.setattr("gitflagger.engine.controller.RETRY_MIN", 0.01)
    assert c.run(stop) == 0
    assert len(calls) == 2  # it went round again after the exception
    assert world.status["phase"] == "Initializing"


def test_the_watch_restarts_after_an_unexpected_exception(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    other = copy.deepcopy(world.canary)
    other["metadata"]["name"] = "other"
    world.cluster.watch_script = [KeyError("object"), [("ADDED", other)]]
    stop = threading.Event()

    def stop_when_done() -> None:
        while world.cluster.watch_script:
            stop.wait(0.05)
        stop.set()

    threading.Thread(target=stop_when_done, daemon=True).start()
    c.watch(stop)

    assert world.cluster.lists == 2  # listed again after the KeyError
    assert "other" in [o["metadata"]["name"] for o in c.canaries()]


def test_healthz_fails_when_the_canary_watch_thread_is_dead(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = started(world)
    monkeypatch.setattr(c, "watch", lambda stop: None)  # the thread ends although nobody stopped it
    stop = threading.Event()
    runner = threading.Thread(target=c.run, args=(stop,), daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not c.unhealthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.unhealthy() == "the Canary watch thread is dead"
    finally:
        stop.set()
        runner.join(10)


def test_healthz_fails_when_the_stepper_is_stuck(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    c = started(world)
    blocked, release = threading.Event(), threading.Event()

    def wedged(**kw: Any) -> list[StepOutcome]:
        blocked.set()
        release.wait(30)
        return []

    monkeypatch.setattr(c, "run_pass", wedged)
    monkeypatch.setattr(c, "stuck_limit", lambda: 0.3)
    stop = threading.Event()
    runner = threading.Thread(target=c.run, args=(stop,), daemon=True)
    runner.start()
    try:
        assert blocked.wait(10)
        assert c.unhealthy() == ""  # not yet past the limit
        time.sleep(0.5)
        assert c.unhealthy().startswith("the stepper made no progress for ")
        release.set()
        deadline = time.monotonic() + 10
        while c.unhealthy() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.unhealthy() == ""  # the pass finished: healthy again
    finally:
        stop.set()
        release.set()
        runner.join(10)


def test_the_stuck_limit_is_two_of_the_shortest_intervals_with_a_floor(world: World) -> None:
    c = started(world)
    assert c.stuck_limit() == STUCK_FLOOR  # the fixtures' 1m interval: twice is below the floor
    slow = copy.deepcopy(world.canary)
    slow["metadata"]["name"] = "slow"
    fast = copy.deepcopy(slow)
    fast["metadata"]["name"] = "fast"
    for obj, interval in ((slow, "10m"), (fast, "5m")):
        obj["spec"]["canaryAnalysis"]["interval"] = interval
        c.remember(obj)
    c.forget(world.canary)
    c.forget(world.cluster.obj("Canary", "poison"))
    assert c.stuck_limit() == 600.0  # twice the shortest interval, 5m


def test_the_stepper_is_not_stuck_before_it_steps_or_while_unsynced(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    assert c.unhealthy() == ""


def test_a_canary_nesting_its_traffic_policy_too_deep_is_refused_and_the_other_steps(world: World) -> None:
    """300 levels: the in-memory cluster's deepcopy recurses too; the testbed test nests 600."""
    poison = world.cluster.obj("Canary", "poison")
    deep: dict[str, Any] = {"tls": {"mode": "ISTIO_MUTUAL"}}
    for _ in range(300):
        deep = {"loadBalancer": deep}
    poison["spec"]["service"]["trafficPolicy"] = deep
    c = started(world)

    outcomes = by_name(c.run_pass())

    assert outcomes["podinfo"].stepped
    assert outcomes["poison"].skipped == "invalid"
    [event] = [e for e in world.cluster.events if e.canary == "test/poison"]
    assert (event.warning, event.reason) == (True, "InvalidSpec")
    assert event.message.startswith("invalid Canary test/poison: spec.service.trafficPolicy.loadBalancer.")
    assert event.message.endswith("...: nests deeper than 64 levels")


def test_the_fault_line_is_one_line_short_and_without_credentials() -> None:
    err = ValueError("GET https://user:hunter2@example.com/x failed\nTraceback (most recent call last): ...")
    line = describe("preparing the step", err)
    assert line == "preparing the step failed: ValueError: GET https://<redacted>@example.com/x failed"
    assert len(describe("x", KeyError("k" * 1000))) < 250
