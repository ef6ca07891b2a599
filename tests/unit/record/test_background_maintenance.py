"""Maintenance off the step path: flush only starts it, one run at a time, at most so often."""

from __future__ import annotations

import threading
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder, open_repository
from gitflagger.adapters.git import maintenance as maint
from gitflagger.adapters.git.latest import canary_ref_name
from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.maintenance import BackgroundMaintenance, MaintenanceReport
from tests.unit.record.steps import step


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace the git commands with a recorder of calls; the estimate is always over the threshold."""
    calls: list[str] = []

    def fake(git_dir: str | Path) -> MaintenanceReport:
        calls.append(str(git_dir))
        return MaintenanceReport(("repack", "pack-refs", "commit-graph"))

    monkeypatch.setattr(maint, "maintain", fake)
    monkeypatch.setattr(maint, "loose_objects_estimate", lambda git_dir: 10_000)
    return calls


def test_a_due_run_starts_once_per_interval(runs: list[str]) -> None:
    clock = Clock()
    bg = BackgroundMaintenance("/repo", 2_000, min_interval=60.0, clock=clock)

    assert bg.poke() is True
    assert bg.wait(5) == MaintenanceReport(("repack", "pack-refs", "commit-graph"))
    clock.now += 59
    assert bg.poke() is False  # too soon after the last start
    clock.now += 2
    assert bg.poke() is True
    bg.wait(5)
    assert runs == ["/repo", "/repo"]


def test_nothing_runs_below_the_threshold_or_when_switched_off(
    runs: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert BackgroundMaintenance("/repo", 0).poke() is False
    monkeypatch.setattr(maint, "loose_objects_estimate", lambda git_dir: 10)
    assert BackgroundMaintenance("/repo", 2_000).poke() is False
    assert runs == []


def test_flush_does_not_wait_for_the_repack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(git_dir: str | Path) -> MaintenanceReport:
        started.set()
        release.wait(10)
        return MaintenanceReport(("repack",))

    monkeypatch.setattr(maint, "maintain", slow)
    monkeypatch.setattr(maint, "loose_objects_estimate", lambda git_dir: 10_000)
    recorder = GitRecorder(open_repository(tmp_path / "r"), maintenance_threshold=1)
    recorder.record(step(1))
    recorder.flush()  # returns although the "repack" is blocked
    assert started.wait(5) and recorder.maintenance.running
    recorder.record(step(2, weight=20))  # steps go on meanwhile
    recorder.flush()  # and a second flush does not start a second run
    release.set()
    assert recorder.maintenance.wait(5) == MaintenanceReport(("repack",))
    assert not recorder.maintenance.running


def test_a_failing_run_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(git_dir: str | Path) -> MaintenanceReport:
        raise OSError("disk full")

    monkeypatch.setattr(maint, "maintain", broken)
    monkeypatch.setattr(maint, "loose_objects_estimate", lambda git_dir: 10_000)
    bg = BackgroundMaintenance("/repo", 1)
    assert bg.poke()
    report = bg.wait(5)
    assert report is not None and report.failed == "maintenance: disk full"


def test_steps_are_recorded_while_git_maintains_the_repo(tmp_path: Path) -> None:
    """The real git commands next to a recorder: every step lands, the history stays whole."""
    repo = open_repository(tmp_path / "r")
    recorder = GitRecorder(repo, maintenance_threshold=1)
    recorder.maintenance.min_interval = 0.0
    commits = []
    for number in range(1, 120):
        result = recorder.record(step(number, weight=number % 100))
        assert result.commit_id is not None
        commits.append(result.commit_id)
        recorder.flush()
    recorder.maintenance.wait()
    head = repo.references["refs/heads/main"].target
    walked = [str(c.id) for c in repo.walk(head)]
    assert walked == commits[::-1]


def test_a_locked_cache_ref_does_not_fail_a_committed_step(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    ref_name = canary_ref_name(canary_directory("local", "test", "podinfo"))
    assert ref_name is not None
    lock = Path(repo.path) / (ref_name + ".lock")
    lock.write_text("")  # as git pack-refs holds it for a moment
    result = recorder.record(step(2, weight=20))
    assert result.commit_id is not None
    assert str(repo.references["refs/heads/main"].target) == result.commit_id
    lock.unlink()
    again = recorder.record(step(2, weight=20))
    assert again.commit_id is None  # the step is still found (by walking the history)
    assert isinstance(repo[result.commit_id], pygit2.Commit)


def test_a_briefly_locked_branch_is_retried(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    lock = Path(repo.path) / "refs" / "heads" / "main.lock"
    lock.write_text("")  # as git pack-refs holds it while it prunes the loose ref
    timer = threading.Timer(0.05, lock.unlink)
    timer.start()
    result = recorder.record(step(2, weight=20))
    timer.join()
    assert result.commit_id is not None
    assert str(repo.references["refs/heads/main"].target) == result.commit_id
