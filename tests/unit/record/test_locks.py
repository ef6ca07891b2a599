"""Lock files left by a killed process: removed once stale, otherwise named in a one-line error."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pygit2
import pytest
import structlog

from gitflagger.adapters.git import GitRecorder, open_repository
from gitflagger.adapters.git import locks as locks_module
from gitflagger.adapters.git.intents import record_intent
from gitflagger.adapters.git.latest import canary_ref_name, remember_step, remember_steps
from gitflagger.adapters.git.locks import STALE_LOCK_AGE, remove_if_stale
from gitflagger.decide import ManualIntent
from gitflagger.errors import TemporaryError
from tests.unit.record.steps import START, step


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    return open_repository(tmp_path / "config.git")


@pytest.fixture(autouse=True)
def short_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks_module, "LOCK_WAIT", 0.2)


@pytest.fixture(autouse=True)
def plain_logging() -> None:
    """As a command that configured no logging (``simulate``) runs: warnings are plain stderr lines."""
    structlog.reset_defaults()


def leave_lock(repo: pygit2.Repository, relative: str, age: float) -> Path:
    """A lock file as a process killed mid-update leaves it, ``age`` seconds old."""
    lock = Path(repo.path) / relative
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("0" * 40 + "\n")
    then = time.time() - age
    os.utime(lock, (then, then))
    return lock


def head(repo: pygit2.Repository) -> pygit2.Oid | None:
    ref = repo.references.get("refs/heads/main")
    return ref.target if ref is not None else None  # type: ignore[return-value]


def test_a_stale_branch_lock_is_removed_with_a_warning_and_the_step_recorded(
    repo: pygit2.Repository, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    lock = leave_lock(repo, "refs/heads/main.lock", STALE_LOCK_AGE + 60)

    result = recorder.record(step(2, weight=20))

    assert result.commit_id is not None and head(repo) == pygit2.Oid(hex=result.commit_id)
    assert not lock.exists()
    warning = capsys.readouterr().err
    assert f"removed a stale lock file {lock}" in warning
    assert warning.count("\n") == 1


def test_a_stale_branch_lock_does_not_stop_a_batch(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    lock = leave_lock(repo, "refs/heads/main.lock", STALE_LOCK_AGE + 1)
    recorder.begin()
    recorder.record(step(2, weight=20))
    persisted = recorder.persist()
    assert persisted.commits == 1 and persisted.head is not None
    assert head(repo) == pygit2.Oid(hex=persisted.head)
    assert not lock.exists()


@pytest.mark.parametrize("batched", [False, True], ids=["record", "batch"])
def test_a_young_lock_that_stays_is_one_error_naming_the_file(repo: pygit2.Repository, batched: bool) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    before = head(repo)
    lock = leave_lock(repo, "refs/heads/main.lock", 5)

    with pytest.raises(TemporaryError) as raised:
        if batched:
            recorder.begin()
            recorder.record(step(2, weight=20))
            recorder.persist()
        else:
            recorder.record(step(2, weight=20))

    message = str(raised.value)
    assert message.startswith(f"git: refs/heads/main is locked by a dead process: remove {lock} (")
    assert "\n" not in message and "kept moving" not in message
    assert lock.exists() and head(repo) == before  # nothing removed, nothing moved
    lock.unlink()  # what the message asks for; then the next pass records
    assert recorder.record(step(2, weight=20)).commit_id is not None


def test_a_lock_released_while_waiting_is_a_lost_race_only(repo: pygit2.Repository,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(locks_module, "LOCK_WAIT", 5.0)
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    lock = leave_lock(repo, "refs/heads/main.lock", 0)
    releaser = threading.Timer(0.3, lock.unlink)
    releaser.start()
    try:
        result = recorder.record(step(2, weight=20))
    finally:
        releaser.join()
    assert result.commit_id is not None and head(repo) == pygit2.Oid(hex=result.commit_id)


def test_an_intent_meets_the_same_rules(repo: pygit2.Repository) -> None:
    GitRecorder(repo).record(step(1))
    young = leave_lock(repo, "refs/heads/main.lock", 1)
    with pytest.raises(TemporaryError, match=f"locked by a dead process: remove {young} "):
        record_intent(repo, "test/podinfo", ManualIntent.PROMOTE, now=START)
    os.utime(young, (time.time() - STALE_LOCK_AGE - 1,) * 2)
    assert record_intent(repo, "test/podinfo", ManualIntent.PROMOTE, now=START) is not None
    assert not young.exists()


def test_stale_locks_on_the_index_refs_and_packed_refs_are_cleared(repo: pygit2.Repository) -> None:
    commit = pygit2.Oid(hex=GitRecorder(repo).record(step(1)).commit_id)
    directory = ("local", "test", "podinfo")
    name = canary_ref_name(directory)
    assert name is not None
    ref_lock = leave_lock(repo, f"{name}.lock", STALE_LOCK_AGE + 1)
    remember_step(repo, directory, commit)
    assert not ref_lock.exists()
    assert repo.references[name].target == commit

    packed_lock = leave_lock(repo, "packed-refs.lock", STALE_LOCK_AGE + 1)
    other = ("local", "test", "other")
    remember_steps(repo, {other: commit})
    assert not packed_lock.exists()
    assert f"{commit} {canary_ref_name(other)}" in (Path(repo.path) / "packed-refs").read_text()


def test_a_young_index_ref_lock_is_left_alone(repo: pygit2.Repository) -> None:
    """The index refs are a cache: a held lock skips the update (the next lookup walks the history)."""
    commit = pygit2.Oid(hex=GitRecorder(repo).record(step(1)).commit_id)
    directory = ("local", "test", "podinfo")
    name = canary_ref_name(directory)
    assert name is not None
    lock = leave_lock(repo, f"{name}.lock", 1)
    remember_step(repo, directory, commit)  # no error, no wait
    assert lock.exists()


def test_remove_if_stale_spares_young_and_missing_locks(tmp_path: Path) -> None:
    lock = tmp_path / "main.lock"
    assert remove_if_stale(lock) is True  # nothing there
    lock.write_text("")
    assert remove_if_stale(lock) is False and lock.exists()
    assert remove_if_stale(lock, clock=lambda: time.time() + STALE_LOCK_AGE + 1) is True
    assert not lock.exists()
