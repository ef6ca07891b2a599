"""A remote config repo: every step of a chunk is applied only after the remote holds its commit.

The remote is a bare repository on disk reached through the same
:class:`~gitflagger.adapters.git.RemoteRecorder` the controller uses over
HTTPS (libgit2's local transport); a push that cannot complete is a real
refusal (a locked ref) or a transport that raises. The same order over HTTP,
with a pre-receive hook refusing the push, is in
``tests/integration/test_durability.py``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder, StepTrailers
from gitflagger.adapters.git import remote_recorder as remote_module
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.engine.controller import Controller
from gitflagger.engine.reconcile import reconcile_one
from gitflagger.errors import TemporaryError
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World
from tests.unit.engine.test_two_phase_pass import NAMES
from tests.unit.engine.test_two_phase_pass import world as three_canaries  # noqa: F401 (fixture)


@pytest.fixture
def world(three_canaries: World, tmp_path: Path) -> Iterator[World]:  # noqa: F811
    """The three Canaries of the two-phase tests, recording into a cache of a bare "remote"."""
    yield recording_to_a_remote(three_canaries, tmp_path)


def recording_to_a_remote(world: World, tmp_path: Path) -> World:
    """``world`` recording into a cache of a bare "remote" (``world.remote``) instead of a local repo."""
    remote = tmp_path / "remote.git"
    pygit2.init_repository(str(remote), bare=True, initial_head="main")
    recorder = RemoteRecorder(RemoteConfig(str(remote)), cache_root=tmp_path / "cache")
    world.ctx = dataclasses.replace(world.ctx, recorder=recorder, intents=IntentStore(recorder.repo))
    world.remote = remote  # type: ignore[attr-defined]
    return world


def remote_head(world: World) -> str | None:
    ref = pygit2.Repository(str(world.remote)).references.get("refs/heads/main")  # type: ignore[attr-defined]
    return str(ref.target) if ref is not None else None


def on_remote(world: World, commit: str) -> bool:
    repo = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    head = remote_head(world)
    if head is None:
        return False
    oid = pygit2.Oid(hex=commit)
    return head == commit or (oid in repo.odb and repo.descendant_of(pygit2.Oid(hex=head), oid))


def remote_step_ids(world: World) -> Counter[str]:
    """Every Step-Id on the remote branch, walking every commit (not only one Canary's chain)."""
    found: Counter[str] = Counter()
    head = remote_head(world)
    if head is None:
        return found
    repo = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
    for commit in repo.walk(pygit2.Oid(hex=head)):
        trailers = StepTrailers.from_message(commit.message)
        if trailers is not None:
            found[trailers.step_id] += 1
    return found


def last_commits(world: World) -> dict[str, str]:
    return {n: str(world.cluster.obj("Canary", n)["status"]["lastCommit"]) for n in NAMES}


def test_each_apply_comes_after_the_remote_holds_the_chunks_commits(world: World) -> None:
    c = Controller(world.cluster, world.ctx, batch_size=2)  # type: ignore[arg-type]
    c.sync()
    heads: list[str | None] = []
    patched = world.cluster.apply

    def apply(*args: Any, **kwargs: Any) -> Any:
        heads.append(remote_head(world))
        return patched(*args, **kwargs)

    world.cluster.apply = apply  # type: ignore[method-assign]
    outcomes = c.run_pass()

    stepped = [o for o in outcomes if o.stepped]
    assert len(stepped) == 3 and len(heads) == world.cluster.applies
    for outcome in stepped:
        assert outcome.commit is not None and on_remote(world, outcome.commit)
    assert heads[0] is not None and heads[0] != heads[-1]  # the first chunk's applies: after its own push
    assert all(on_remote(world, commit) for commit in last_commits(world).values())
    assert set(remote_step_ids(world).values()) == {1}


def test_a_push_that_fails_applies_nothing_warns_each_canary_and_the_retry_records_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass()  # initialization starts everywhere, pushed and applied
    before = {n: dict(world.cluster.obj("Canary", n)["status"]) for n in NAMES}
    applies, head = world.cluster.applies, remote_head(world)
    real_push = remote_module.transport.push

    def network_down(*args: Any, **kwargs: Any) -> Any:
        raise TemporaryError("git: remote: connection refused")

    monkeypatch.setattr(remote_module.transport, "push", network_down)
    world.now += timedelta(minutes=1)
    outcomes = c.run_pass()

    assert world.cluster.applies == applies and remote_head(world) == head
    assert all("step not applied" in o.error and "connection refused" in o.error for o in outcomes)
    warnings = [e for e in world.cluster.events if e.warning and e.reason == "PushFailed"]
    assert sorted(e.canary for e in warnings) == sorted(f"test/{n}" for n in NAMES)
    assert all("connection refused" in e.message for e in warnings)
    telemetry = world.ctx.telemetry.registry
    assert telemetry.get_sample_value("gitflagger_push_failures_total") == 1.0
    assert telemetry.get_sample_value("gitflagger_steps_waiting_for_push") == 3.0
    assert {n: world.cluster.obj("Canary", n)["status"] for n in NAMES} == before  # no status written
    recorder = world.ctx.recorder
    assert isinstance(recorder, RemoteRecorder)
    held = recorder.cache.head()
    assert held is not None and str(held) != head  # the steps wait, committed, in the cache

    monkeypatch.setattr(remote_module.transport, "push", real_push)
    world.now += timedelta(minutes=1)  # past the retry backoff
    retried = c.run_pass()

    assert len([o for o in retried if o.stepped]) == 3 and world.cluster.applies > applies
    assert telemetry.get_sample_value("gitflagger_steps_waiting_for_push") == 0.0
    assert remote_head(world) == str(held)  # the held commits as they were: no step recorded again
    ids = remote_step_ids(world)
    assert len(ids) == 6 and set(ids.values()) == {1}
    lasts = last_commits(world)
    assert all(on_remote(world, commit) for commit in lasts.values())
    assert all(lasts[n] != before[n]["lastCommit"] for n in NAMES)  # the retried step's own commit


def test_a_push_that_lost_a_race_reports_the_replayed_commit_ids(world: World) -> None:
    c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
    c.sync()
    c.run_pass()
    world.now += timedelta(minutes=1)
    recorder = world.ctx.recorder
    assert isinstance(recorder, RemoteRecorder)
    persist = recorder.persist

    def someone_pushes_meanwhile() -> Any:
        result = persist()
        other = pygit2.Repository(str(world.remote))  # type: ignore[attr-defined]
        blob = other.create_blob(b"hello\n")
        parent = other.references["refs/heads/main"].peel(pygit2.Commit)
        builder = other.TreeBuilder(parent.tree)
        builder.insert("README", blob, pygit2.GIT_FILEMODE_BLOB)
        who = pygit2.Signature("someone", "someone@example.com")
        other.create_commit("refs/heads/main", who, who, "a README", builder.write(), [parent.id])
        return result

    recorder.persist = someone_pushes_meanwhile  # type: ignore[method-assign]
    outcomes = c.run_pass()

    stepped = [o for o in outcomes if o.stepped]
    assert len(stepped) == 3 and recorder.push_retries >= 1
    for outcome in stepped:  # the ids the batch got at the persist were replaced by the replay's
        assert outcome.commit is not None and on_remote(world, outcome.commit)
    assert "README" in pygit2.Repository(str(world.remote)).revparse_single("main").tree  # type: ignore[attr-defined]
    assert all(on_remote(world, commit) for commit in last_commits(world).values())


def test_a_local_repository_keeps_applying_right_after_the_persist(tmp_path: Path) -> None:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        world = World(tmp_path, prometheus, hooks)
        c = Controller(world.cluster, world.ctx)  # type: ignore[arg-type]
        c.sync()
        outcomes = c.run_pass()
    assert [o.canary for o in outcomes if o.stepped] == ["test/podinfo"] and world.cluster.applies > 0
    assert world.ctx.telemetry.registry.get_sample_value("gitflagger_push_failures_total") == 0.0


def test_reconcile_of_one_canary_applies_nothing_when_its_push_fails(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``gitflagger reconcile NS/NAME`` takes the same order: record, push, then apply."""
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise TemporaryError("git: remote: connection refused")

    monkeypatch.setattr(remote_module.transport, "push", refused)
    outcome = reconcile_one(world.ctx, world.cluster.obj("Canary", "podinfo"))

    assert not outcome.stepped and "connection refused" in outcome.error
    assert world.cluster.applies == 0 and remote_head(world) is None
