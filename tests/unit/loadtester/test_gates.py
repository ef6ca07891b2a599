"""Gates: Flagger's in-memory defaults, and approvals read from commits in a real git repo."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitflagger.loadtester.gates import GateKind, GateRepoError, GateStore, GitApprovals


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Alice", "-c", "user.email=alice@example.com",
         "-c", "commit.gpgsign=false", *args],
        check=True, capture_output=True, text=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "gates"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    (path / "README").write_text("approvals for canaries\n")
    git(path, "add", "README")
    git(path, "commit", "-qm", "start")
    return path


def commit_file(repo: Path, relpath: str, message: str) -> str:
    target = repo / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("LGTM\n")
    git(repo, "add", relpath)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def test_gates_are_closed_until_opened_and_kinds_are_separate() -> None:
    gates = GateStore()
    assert not gates.is_open(GateKind.CONFIRM, "podinfo.test")
    gates.open(GateKind.CONFIRM, "podinfo.test")
    assert gates.is_open(GateKind.CONFIRM, "podinfo.test")
    assert not gates.is_open(GateKind.ROLLBACK, "podinfo.test")
    assert not gates.is_open(GateKind.CONFIRM, "other.test")
    gates.close(GateKind.CONFIRM, "podinfo.test")
    assert not gates.is_open(GateKind.CONFIRM, "podinfo.test")


def test_standing_approval_opens_any_revision_until_reverted(repo: Path) -> None:
    approvals = GitApprovals(str(repo))
    assert approvals.find(GateKind.CONFIRM, "test", "podinfo", "abc") is None

    tip = commit_file(repo, "approvals/test/podinfo/approved", "approve podinfo.test")
    found = approvals.find(GateKind.CONFIRM, "test", "podinfo", "abc")
    assert found is not None and (found.path, found.commit) == ("approvals/test/podinfo/approved", tip)
    assert approvals.find(GateKind.CONFIRM, "test", "other", "abc") is None
    assert approvals.find(GateKind.ROLLBACK, "test", "podinfo", "abc") is None

    git(repo, "rm", "-q", "approvals/test/podinfo/approved")
    git(repo, "commit", "-qm", "revoke")
    assert approvals.find(GateKind.CONFIRM, "test", "podinfo", "abc") is None


def test_checksum_approval_opens_only_that_revision(repo: Path) -> None:
    commit_file(repo, "approvals/test/podinfo/85d557f47b", "approve one release")
    approvals = GitApprovals(str(repo))
    found = approvals.find(GateKind.CONFIRM, "test", "podinfo", "85d557f47b")
    assert found is not None and found.path == "approvals/test/podinfo/85d557f47b"
    assert approvals.find(GateKind.CONFIRM, "test", "podinfo", "0000000000") is None
    assert approvals.find(GateKind.CONFIRM, "test", "podinfo") is None


def test_rollback_requests_live_in_their_own_directory(repo: Path) -> None:
    commit_file(repo, "rollbacks/test/podinfo/requested", "roll back podinfo.test")
    approvals = GitApprovals(str(repo))
    assert approvals.find(GateKind.ROLLBACK, "test", "podinfo", "x") is not None
    assert approvals.find(GateKind.CONFIRM, "test", "podinfo", "x") is None


def test_a_directory_is_not_an_approval(repo: Path) -> None:
    commit_file(repo, "approvals/test/podinfo/approved/note", "misplaced")
    assert GitApprovals(str(repo)).find(GateKind.CONFIRM, "test", "podinfo") is None


def test_only_the_configured_branch_counts(repo: Path) -> None:
    git(repo, "checkout", "-qb", "proposals")
    commit_file(repo, "approvals/test/podinfo/approved", "not yet reviewed")
    assert GitApprovals(str(repo), "main").find(GateKind.CONFIRM, "test", "podinfo") is None
    assert GitApprovals(str(repo), "proposals").find(GateKind.CONFIRM, "test", "podinfo") is not None


def test_a_bare_mirror_is_read_without_a_working_tree(repo: Path, tmp_path: Path) -> None:
    commit_file(repo, "approvals/test/podinfo/approved", "approve")
    mirror = tmp_path / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(repo), str(mirror)], check=True)
    assert GitApprovals(str(mirror)).find(GateKind.CONFIRM, "test", "podinfo") is not None


def test_unreadable_repos_raise_a_clear_error(repo: Path, tmp_path: Path) -> None:
    with pytest.raises(GateRepoError, match="cannot open gate repo"):
        GitApprovals(str(tmp_path / "nowhere")).check()
    (repo / "sub").mkdir()
    with pytest.raises(GateRepoError, match="cannot open gate repo"):
        GitApprovals(str(repo / "sub")).check()  # inside a repo: never searches upward
    with pytest.raises(GateRepoError, match="has no branch 'prod'"):
        GitApprovals(str(repo), "prod").check()
    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    with pytest.raises(GateRepoError, match="cannot read HEAD"):
        GitApprovals(str(empty)).check()
