"""Reading a Canary's steps back from the trailers, newest first."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder, read_history
from gitflagger.errors import PermanentError
from gitflagger.model.status import Phase
from tests.unit.record.steps import START, podinfo, step


def _story(path: Path) -> None:
    recorder = GitRecorder(path)
    recorder.record(step(1, weight=10))
    recorder.record(step(1, canary=podinfo("frontend", "prod")))
    recorder.record(step(2, weight=20))
    repo = pygit2.Repository(str(path))
    head = repo.references["refs/heads/main"]
    sig = pygit2.Signature("someone", "someone@example.com", 0, 0)
    tree = head.peel(pygit2.Commit).tree.id
    human = repo.create_commit(None, sig, sig, "Add a README\n", tree, [head.target])
    head.set_target(human)
    recorder.record(step(3, phase=Phase.FAILED, weight=0, failed_checks=5))


def test_history_lists_one_canarys_steps_newest_first(tmp_path: Path) -> None:
    _story(tmp_path / "repo")

    rows = read_history(tmp_path / "repo", "test/podinfo")

    assert [(r.trailers.phase, r.trailers.canary_weight, r.trailers.failed_checks) for r in rows] == [
        ("Failed", 0, 5),
        ("Progressing", 20, 0),
        ("Progressing", 10, 0),
    ]
    assert [r.subject for r in rows] == [
        "podinfo.test: advance canary weight 0",
        "podinfo.test: advance canary weight 20",
        "podinfo.test: advance canary weight 10",
    ]
    assert [r.time.isoformat() for r in rows] == [
        "2026-01-01T00:03:00+00:00",
        "2026-01-01T00:02:00+00:00",
        "2026-01-01T00:01:00+00:00",
    ]
    assert rows[-1].time > START and all(len(r.commit) == 40 for r in rows)


def test_history_limit(tmp_path: Path) -> None:
    _story(tmp_path / "repo")
    rows = read_history(tmp_path / "repo", "test/podinfo", limit=2)
    assert [r.trailers.canary_weight for r in rows] == [0, 20]


def test_history_of_an_unknown_canary_is_empty(tmp_path: Path) -> None:
    _story(tmp_path / "repo")
    assert read_history(tmp_path / "repo", "test/nothing") == []


def test_history_of_a_missing_branch_is_an_error(tmp_path: Path) -> None:
    _story(tmp_path / "repo")
    with pytest.raises(PermanentError, match=r"repo: no branch 'other' \(nothing recorded there yet\?\)$"):
        read_history(tmp_path / "repo", "test/podinfo", branch="other")


def test_history_never_creates_a_repository(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="no git repository here"):
        read_history(tmp_path / "missing", "test/podinfo")
    assert not (tmp_path / "missing").exists()


def test_history_refuses_an_invalid_branch_name(tmp_path: Path) -> None:
    _story(tmp_path / "repo")
    with pytest.raises(PermanentError, match=r"invalid branch name 'bad\.\.name'"):
        read_history(tmp_path / "repo", "test/podinfo", branch="bad..name")
