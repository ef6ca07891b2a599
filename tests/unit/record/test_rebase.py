"""Replaying local steps over a remote head that moved: disjoint Canaries, duplicates, conflicts."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder, StepTrailers, open_repository
from gitflagger.adapters.git.rebase import RebaseResult, rebase, unit_of, unpushed_commits
from gitflagger.adapters.git.tree import replace_entry
from tests.unit.record.steps import head_commits, manifests, podinfo, step

FRONTEND = podinfo("frontend", "prod")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    """A repo whose ``main`` holds podinfo's step 1; branches ``theirs`` and ``ours`` start there."""
    repo = open_repository(tmp_path / "config")
    GitRecorder(repo).record(step(1))
    base = repo.references["refs/heads/main"].target
    for name in ("theirs", "ours"):
        repo.create_reference_direct(f"refs/heads/{name}", base, True)
    return repo


def head(repo: pygit2.Repository, branch: str) -> pygit2.Oid:
    target = repo.references[f"refs/heads/{branch}"].target
    assert isinstance(target, pygit2.Oid)
    return target


def replay(
    repo: pygit2.Repository, conflict_ref: str | None = None
) -> tuple[RebaseResult, list[pygit2.Commit]]:
    base = head(repo, "main")
    commits = unpushed_commits(repo, head(repo, "ours"), [base])
    assert commits is not None
    result = rebase(repo, commits, head(repo, "theirs"), base, prefix=("local",), conflict_ref=conflict_ref)
    assert result.head is not None
    repo.references["refs/heads/ours"].set_target(result.head)
    return result, list(reversed(head_commits(repo, "ours")))


def trailers(commit: pygit2.Commit) -> StepTrailers:
    found = StepTrailers.from_message(commit.message)
    assert found is not None
    return found


def test_steps_of_other_canaries_replay_and_keep_their_chain(repo: pygit2.Repository) -> None:
    GitRecorder(repo, branch="theirs").record(step(2, weight=20))
    ours = GitRecorder(repo, branch="ours")
    first = ours.record(step(1, canary=FRONTEND)).commit_id
    ours.record(step(2, canary=FRONTEND, weight=20))

    result, commits = replay(repo)

    assert [c.message.split("\n")[0] for c in commits] == [
        "podinfo.test: advance canary weight 10",
        "podinfo.test: advance canary weight 20",
        "frontend.prod: advance canary weight 10",
        "frontend.prod: advance canary weight 20",
    ]
    assert trailers(commits[2]).previous_step is None
    assert trailers(commits[3]).previous_step == str(commits[2].id)  # rewritten, not the old id
    assert result.rewritten[str(first)] == str(commits[2].id)
    assert "local/test/podinfo/canary.yaml" in commits[3].tree and "local/prod/frontend" in commits[3].tree
    assert trailers(commits[1]).previous_step == str(commits[0].id)


def test_steps_the_remote_already_has_are_dropped(repo: pygit2.Repository) -> None:
    """Two replicas recorded the same steps; only the one the remote lacks moves."""
    theirs = GitRecorder(repo, branch="theirs")
    theirs.record(step(2, weight=20))
    their_third = theirs.record(step(3, weight=30)).commit_id
    ours = GitRecorder(repo, branch="ours")
    for number in (2, 3, 4):
        ours.record(step(number, weight=number * 10))

    result, commits = replay(repo)

    assert [trailers(c).canary_weight for c in commits] == [10, 20, 30, 40]
    step_ids = [trailers(c).step_id for c in commits]
    assert len(set(step_ids)) == 4
    assert trailers(commits[3]).previous_step == their_third
    assert len(result.duplicates) == 2


def test_a_real_conflict_drops_that_canarys_steps_and_keeps_the_others(repo: pygit2.Repository) -> None:
    GitRecorder(repo, branch="theirs").record(step(2, weight=20))
    ours = GitRecorder(repo, branch="ours")
    ours.record(step(5, weight=50, items=manifests(image="podinfo:9")))  # same directory, another story
    ours.record(step(1, canary=FRONTEND))
    ours.record(step(6, weight=60, items=manifests(image="podinfo:9")))
    original = head(repo, "ours")

    result, commits = replay(repo, conflict_ref="refs/gitflagger/conflicts/ours/t1")

    assert [c.message.split("\n")[0] for c in commits] == [
        "podinfo.test: advance canary weight 10",
        "podinfo.test: advance canary weight 20",
        "frontend.prod: advance canary weight 10",
    ]
    conflicts = result.conflicts
    assert [(c.unit, c.subject) for c in conflicts] == [
        ("local/test/podinfo", "podinfo.test: advance canary weight 50"),
        ("local/test/podinfo", "podinfo.test: advance canary weight 60"),
    ]
    assert conflicts[0].theirs == str(commits[1].id)
    assert repo.references["refs/gitflagger/conflicts/ours/t1"].target == original


def test_files_beside_the_canaries_are_units_of_their_own(repo: pygit2.Repository) -> None:
    def add(branch: str, path: str, text: bytes) -> None:
        ref = repo.references[f"refs/heads/{branch}"]
        parent = ref.peel(pygit2.Commit)
        entry = (repo.create_blob(text), int(pygit2.enums.FileMode.BLOB))
        tree = replace_entry(repo, parent.tree, path.split("/"), entry)
        sig = pygit2.Signature("op", "op@example.com", 0, 0)
        ref.set_target(repo.create_commit(None, sig, sig, f"intent {path}", tree, [parent.id]))

    add("theirs", "local/test/.intents/podinfo.yaml", b"intent: promote\n")
    add("ours", "local/test/.intents/frontend.yaml", b"intent: abort\n")

    result, commits = replay(repo)

    assert result.conflicts == []
    assert "local/test/.intents/podinfo.yaml" in commits[-1].tree
    assert "local/test/.intents/frontend.yaml" in commits[-1].tree


@pytest.mark.parametrize(
    ("path", "unit"),
    [
        pytest.param("local/test/podinfo/canary.yaml", "local/test/podinfo", id="canary-file"),
        pytest.param("local/test/.intents/podinfo.yaml", "local/test/.intents/podinfo.yaml", id="intent"),
        pytest.param("README.md", "README.md", id="outside-the-prefix"),
        pytest.param("other/test/podinfo/canary.yaml", "other/test/podinfo/canary.yaml", id="other-prefix"),
    ],
)
def test_unit_of(path: str, unit: str) -> None:
    assert "/".join(unit_of(path.split("/"), ("local",))) == unit


def test_unrelated_histories_have_no_unpushed_commits(repo: pygit2.Repository) -> None:
    GitRecorder(repo, branch="elsewhere", prefix="x").record(step(1))
    assert unpushed_commits(repo, head(repo, "elsewhere"), [head(repo, "main")]) is None
