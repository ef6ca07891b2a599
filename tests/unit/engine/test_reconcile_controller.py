"""The controller's run loop on an in-memory cluster: pacing, restarts, leadership, deletion, bad input."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.kube import WatchExpired
from gitflagger.engine.context import ApplyMode
from gitflagger.engine.controller import Controller
from gitflagger.engine.finalize import FINALIZER
from gitflagger.engine.reconcile import LeadershipLost
from gitflagger.engine.scheduler import EPOCH, due_at, interval_of
from gitflagger.errors import TemporaryError
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import START, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield World(tmp_path, prometheus, hooks)


def controller(world: World, **kw: object) -> Controller:
    c = Controller(world.cluster, world.ctx, **kw)  # type: ignore[arg-type]
    c.sync()
    return c


class FakeElector:
    def __init__(self) -> None:
        self.leading = True
        self.released = False

    @property
    def is_leader(self) -> bool:
        return self.leading

    def wait_until_leader(self, stop: threading.Event) -> bool:
        return True

    def keep_leading(self, stop: threading.Event) -> bool:
        stop.wait()
        return True

    def release(self) -> None:
        self.released = True


@pytest.mark.parametrize(
    ("status", "interval", "due"),
    [
        ({}, "1m", EPOCH),
        ({"lastStepTime": "2026-11-29T10:00:00Z"}, "1m", START + timedelta(minutes=1)),
        ({"lastStepTime": "2026-11-29T10:00:00Z"}, "2s", START + timedelta(seconds=10)),
        ({"lastStepTime": "2026-11-29T10:00:00Z"}, "soon", START + timedelta(minutes=1)),
        ({"lastStepTime": "garbage"}, "1m", EPOCH),
    ],
    ids=["never-stepped", "interval-after-last-step", "clamped-to-10s", "unreadable-interval", "bad-time"],
)
def test_a_step_is_due_one_interval_after_the_last(
    status: dict[str, str], interval: str, due: object
) -> None:
    obj = {"metadata": {"name": "p"}, "spec": {"analysis": {"interval": interval}}, "status": status}
    assert due_at(obj) == due


def test_a_canary_being_deleted_is_due_at_once() -> None:
    obj = {
        "metadata": {"deletionTimestamp": "2026-11-29T10:00:00Z"},
        "status": {"lastStepTime": "2099-01-01T00:00:00Z"},
    }
    assert due_at(obj) == EPOCH
    assert interval_of({"spec": {"canaryAnalysis": {"interval": "30s"}}}) == timedelta(seconds=30)


def test_each_canary_steps_once_per_interval_and_a_restart_never_steps_early(world: World) -> None:
    c = controller(world)
    assert [o.canary for o in c.run_pass()] == ["test/podinfo"]
    assert c.run_pass() == []  # same instant: not due

    world.now += timedelta(seconds=30)
    assert c.run_pass() == []
    restarted = controller(world)  # a fresh process reads lastStepTime from status
    assert restarted.run_pass() == []
    assert 29 <= restarted.seconds_until_next() <= 30

    world.now += timedelta(seconds=30)
    assert [o.decision.subject for o in restarted.run_pass() if o.decision] == [
        "podinfo.test: initialization done"
    ]


def test_the_store_counts_canaries_per_namespace(world: World) -> None:
    c = controller(world)
    sample = world.ctx.telemetry.registry.get_sample_value
    assert sample("flagger_canary_total", {"namespace": "test"}) == 1
    c.forget(world.canary)
    assert sample("flagger_canary_total", {"namespace": "test"}) == 0


def test_a_late_watch_event_cannot_roll_the_store_back(world: World) -> None:
    c = controller(world)
    stale = copy.deepcopy(c.canaries()[0])
    c.run_pass()

    c.remember(stale)

    assert c.canaries()[0]["status"]["phase"] == "Initializing"
    assert c.run_pass() == []


def test_the_watch_lists_again_after_an_expired_watch_and_a_broken_connection(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    other = copy.deepcopy(world.canary)
    other["metadata"]["name"] = "other"
    stop = threading.Event()
    world.cluster.watch_script = [
        WatchExpired("410 Gone", status=410),
        TemporaryError("connection refused"),
        [("ADDED", other)],
        [("DELETED", other)],
    ]

    def stop_when_done() -> None:
        while world.cluster.watch_script:
            stop.wait(0.05)
        stop.set()

    threading.Thread(target=stop_when_done, daemon=True).start()
    c.watch(stop)

    assert world.cluster.lists == 3
    assert [o["metadata"]["name"] for o in c.canaries()] == ["podinfo"]


def test_an_invalid_canary_does_not_stop_the_others(world: World) -> None:
    bad = copy.deepcopy(world.canary)
    bad["metadata"]["name"] = "broken"
    bad["spec"]["canaryAnalysis"]["maxWeight"] = 5
    world.cluster.put(bad)
    c = controller(world)

    outcomes = {o.canary: o for o in c.run_pass()}

    assert outcomes["test/podinfo"].stepped
    assert outcomes["test/broken"].skipped == "invalid"
    assert "maxWeight" in outcomes["test/broken"].error
    assert c.run_pass() == []  # the invalid one waits an interval too, no hot loop


def test_an_unreachable_api_server_backs_off_instead_of_spinning(world: World) -> None:
    c = controller(world)
    world.cluster.down = True
    (failed,) = c.run_pass()
    assert "connection refused" in failed.error
    assert c.run_pass() == []
    world.cluster.down = False
    world.now += timedelta(seconds=10)
    assert [o.stepped for o in c.run_pass()] == [True]


def test_losing_the_lease_stops_writing_before_the_commit(world: World) -> None:
    elector = FakeElector()
    c = controller(world, elector=elector)
    c.run_pass()
    commits = len(world.subjects())
    world.now += timedelta(minutes=1)
    elector.leading = False

    with pytest.raises(LeadershipLost):
        c.run_pass()

    assert len(world.subjects()) == commits
    assert world.status["phase"] == "Initializing"
    assert c.lost.is_set()


def test_run_exits_non_zero_when_leadership_is_lost(world: World) -> None:
    elector = FakeElector()
    c = Controller(world.cluster, world.ctx, elector=elector)  # type: ignore[arg-type]
    stop = threading.Event()
    elector.leading = False
    assert c.run(stop) == 1
    stop.set()


def test_revert_on_deletion_holds_a_finalizer_and_gives_the_workload_back(world: World) -> None:
    world.canary["spec"]["revertOnDeletion"] = True
    c = controller(world)
    c.run_pass()
    world.now += timedelta(minutes=1)
    c.run_pass()
    assert world.canary["metadata"]["finalizers"] == [FINALIZER]
    assert world.cluster.scaled[-1] == ("podinfo", 0)

    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    c.sync()
    first = c.run_pass()
    assert "scaled podinfo to 1" in first[0].skipped  # the primary's replicas
    world.now += timedelta(seconds=5)
    c.sync()
    c.run_pass()

    assert ("Canary", "test", "podinfo") not in world.cluster.objects
    assert world.cluster.scaled[-1] == ("podinfo", 1)
    assert world.cluster.messages()[-1] == "Terminated podinfo.test: workload reverted to podinfo"


def test_finalization_records_each_step_and_leaves_the_apex_service_and_route_on_the_target(
    world: World,
) -> None:
    """Scale-up and restore are two commits, each before it is carried out; what stays has no owner."""
    world.canary["spec"]["revertOnDeletion"] = True
    c = controller(world)
    c.run_pass()
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    for _ in range(4):
        if ("Canary", "test", "podinfo") not in world.cluster.objects:
            break
        world.now += timedelta(seconds=5)
        c.sync()
        c.run_pass()
    assert ("Canary", "test", "podinfo") not in world.cluster.objects
    repo = pygit2.Repository(str(world.repo_path))
    subjects = [cm.message.splitlines()[0] for cm in repo.walk(repo.head.target)][:2]
    assert subjects == [
        "podinfo.test: terminated, all traffic to podinfo",
        "podinfo.test: terminating, scale podinfo back up to 1",
    ]
    apex = world.cluster.objects[("Service", "test", "podinfo")]
    assert apex["spec"]["selector"] == {"app": "podinfo"}  # the target's pods, not podinfo-primary's
    assert "ownerReferences" not in apex["metadata"]
    vs = world.cluster.objects[("VirtualService", "test", "podinfo")]
    assert "ownerReferences" not in vs["metadata"]
    assert [r["route"] for r in vs["spec"]["http"]] == [[{"destination": {"host": "podinfo"}, "weight": 100}]]
    changed = repo.diff(repo.revparse_single("HEAD~1"), repo.revparse_single("HEAD"))
    kept = sorted(d.new_file.path.rpartition("/")[2] for d in changed.deltas if d.status_char() != "D")
    assert kept == ["canary.yaml", "service-podinfo.yaml", "virtualservice-podinfo.yaml"]
    gone = {d.old_file.path.rpartition("/")[2] for d in changed.deltas if d.status_char() == "D"}
    assert {"deployment-podinfo-primary.yaml", "service-podinfo-primary.yaml"} <= gone


def test_without_revert_on_deletion_no_finalizer_is_kept(world: World) -> None:
    world.canary["metadata"]["finalizers"] = [FINALIZER]
    c = controller(world)
    c.run_pass()
    assert world.canary["metadata"]["finalizers"] == []


def test_run_calls_after_pass_once_each_pass_has_stepped(world: World) -> None:
    stop = threading.Event()
    seen: list[str] = []

    def after_pass() -> None:
        seen.append(world.status.get("phase", ""))
        stop.set()

    c = Controller(world.cluster, world.ctx, after_pass=after_pass)  # type: ignore[arg-type]
    c.sync()
    assert c.run(stop) == 0
    assert seen == ["Initializing"]  # the pass had stepped and reported before the hook ran


def test_a_stop_ends_the_sleep_between_passes_at_once(world: World) -> None:
    stop = threading.Event()
    passed = threading.Event()
    c = Controller(world.cluster, world.ctx, after_pass=passed.set)  # type: ignore[arg-type]
    c.sync()
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(c.run(stop)), daemon=True)
    runner.start()
    assert passed.wait(10)
    assert c.seconds_until_next() > 10  # the only Canary is not due again for a while: run() sleeps
    stop.set()
    runner.join(10)  # without the wake-up it would sleep until the Canary is due (up to 30 s)
    assert not runner.is_alive()
    assert codes == [0]


def _deleted_after_initializing(world: World) -> Controller:
    world.canary["spec"]["revertOnDeletion"] = True
    c = controller(world)
    c.run_pass()
    world.canary["metadata"]["deletionTimestamp"] = "2026-11-29T10:05:00Z"
    world.now += timedelta(seconds=5)
    c.sync()
    return c


@pytest.mark.parametrize("stage", ["persist", "publish"])
def test_a_finalization_step_that_cannot_be_recorded_or_pushed_is_not_carried_out(
    world: World, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    c = _deleted_after_initializing(world)
    scaled = list(world.cluster.scaled)
    real = getattr(world.recorder, stage)

    def fails(*_: object) -> None:
        raise TemporaryError(f"{stage} failed")

    monkeypatch.setattr(world.recorder, stage, fails)
    [outcome] = c.run_pass()
    assert f"{stage} failed" in outcome.error
    assert world.cluster.scaled == scaled  # recorded (and pushed) first, or not done at all
    monkeypatch.setattr(world.recorder, stage, real)
    world.now += timedelta(seconds=30)
    c.run_pass()
    assert world.cluster.scaled[-1] == ("podinfo", 1)


def test_git_only_holds_the_finalizer_until_the_restored_service_has_lost_its_owner(world: World) -> None:
    c = _deleted_after_initializing(world)  # initialized with server-side apply: the objects exist, owned
    c.ctx = dataclasses.replace(c.ctx, apply_mode=ApplyMode.GIT_ONLY)
    for _ in range(3):
        world.now += timedelta(seconds=5)
        c.sync()
        c.run_pass()
    assert world.status["phase"] == "Terminated"
    assert world.canary["metadata"]["finalizers"] == [FINALIZER]  # the apex Service still names the Canary
    apex = world.cluster.objects[("Service", "test", "podinfo")]
    apex["metadata"].pop("ownerReferences")  # what the GitOps tool's apply of the last commit does
    world.now += timedelta(seconds=5)
    c.sync()
    c.run_pass()
    assert ("Canary", "test", "podinfo") not in world.cluster.objects
