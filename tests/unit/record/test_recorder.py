"""The record stage against real repositories: commits, skips, layout, secrets, CAS."""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import (
    ChecksumKey,
    GitRecorder,
    Identity,
    SkipReason,
    StepTrailers,
    open_repository,
)
from gitflagger.errors import PermanentError
from tests.unit.record.steps import (
    SECRET_B64,
    SECRET_VALUE,
    file_at_head,
    head_commits,
    manifests,
    podinfo,
    step,
    tree_paths,
)


@pytest.fixture(params=["bare", "non-bare"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> pygit2.Repository:
    path = tmp_path / "config"
    if request.param == "bare":
        return open_repository(path)
    return pygit2.init_repository(str(path), bare=False, initial_head="main")


def test_first_step_writes_the_canary_directory(repo: pygit2.Repository) -> None:
    result = GitRecorder(repo).record(step(1))

    assert result.commit_id is not None and result.skipped_reason is None
    commit = repo[result.commit_id].peel(pygit2.Commit)
    assert sorted(tree_paths(commit.tree)) == [
        "local/test/podinfo/canary.yaml",
        "local/test/podinfo/deployment-podinfo-primary.yaml",
        "local/test/podinfo/service-podinfo.yaml",
    ]
    assert commit.parents == []
    assert str(repo.references["refs/heads/main"].target) == result.commit_id


def test_the_working_tree_is_never_touched(tmp_path: Path) -> None:
    path = tmp_path / "checkout"
    pygit2.init_repository(str(path), bare=False, initial_head="main")
    GitRecorder(path).record(step(1))
    assert sorted(p.name for p in path.iterdir()) == [".git"]


def test_commit_message_subject_body_and_trailers_exact(repo: pygit2.Repository) -> None:
    result = GitRecorder(repo).record(step(3, weight=30))
    assert result.commit_id is not None
    message = repo[result.commit_id].peel(pygit2.Commit).message
    uid = step(3).step_id.split("/")[0]
    assert message == (
        "podinfo.test: advance canary weight 30\n"
        "\n"
        "Events:\n"
        "- Advance podinfo.test canary weight 30\n"
        "\n"
        "Metrics:\n"
        "- request-duration: 120 (max 500) pass\n"
        "- request-success-rate: 99.9 (min 99) pass\n"
        "\n"
        "Gates:\n"
        "- load-test (rollout): pass\n"
        "\n"
        "Canary: test/podinfo\n"
        "Phase: Progressing\n"
        "Canary-Weight: 30\n"
        "Primary-Weight: 70\n"
        "Failed-Checks: 0\n"
        "Iterations: 0\n"
        f"Revision: sha256:{'ab' * 32}\n"
        f"Step-Id: {uid}/sha256:{'ab' * 32}/3\n"
    )
    commit = repo[result.commit_id].peel(pygit2.Commit)
    assert commit.message_trailers["Step-Id"] == f"{uid}/sha256:{'ab' * 32}/3"  # git agrees


def test_identity_and_time_are_the_steps(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo, identity=Identity("flagbot", "flagbot@example.com"))
    s = step(2)
    result = recorder.record(s)
    assert result.commit_id is not None
    commit = repo[result.commit_id].peel(pygit2.Commit)
    assert (commit.author.name, commit.author.email) == ("flagbot", "flagbot@example.com")
    assert commit.committer.email == "flagbot@example.com"
    assert commit.commit_time == int(s.time.timestamp())
    assert commit.author.time == int(s.time.timestamp())


def test_default_identity(repo: pygit2.Repository) -> None:
    result = GitRecorder(repo).record(step(1))
    assert result.commit_id is not None
    author = repo[result.commit_id].peel(pygit2.Commit).author
    assert (author.name, author.email) == ("gitflagger", "gitflagger@localhost")


def test_the_same_step_twice_commits_once(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    first = recorder.record(step(1))
    second = recorder.record(step(1))

    assert first.commit_id is not None
    assert second.commit_id is None and second.skipped_reason is SkipReason.UNCHANGED
    assert len(head_commits(repo)) == 1


def test_a_retried_step_is_not_recorded_again_even_when_its_output_differs(repo: pygit2.Repository) -> None:
    """Kargo-style: the step ran, crashed before reporting, and runs again a minute later."""
    recorder = GitRecorder(repo)
    assert recorder.record(step(4)).commit_id is not None
    retried = step(4, items=manifests(image="ghcr.io/stefanprodan/podinfo:6.0.9"))

    result = recorder.record(retried)

    assert result.commit_id is None and result.skipped_reason is SkipReason.DUPLICATE_STEP
    assert len(head_commits(repo)) == 1


def test_the_duplicate_check_survives_a_lost_cache_ref(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    recorder.record(step(2, weight=20))
    for ref in list(repo.references.iterator()):
        if ref.name.startswith("refs/gitflagger/"):
            ref.delete()

    result = recorder.record(step(2, items=manifests(image="other:1")))

    assert result.skipped_reason is SkipReason.DUPLICATE_STEP


def test_a_new_step_with_identical_files_makes_no_commit(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    other_id = dataclasses.replace(step(1), revision="sha256:" + "cd" * 32)
    assert other_id.step_id != step(1).step_id

    assert recorder.record(other_id).skipped_reason is SkipReason.UNCHANGED
    assert len(head_commits(repo)) == 1


def test_one_commit_per_changed_step_in_order(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    for number, weight in enumerate((10, 20, 30), start=1):
        assert recorder.record(step(number, weight=weight)).commit_id is not None

    commits = head_commits(repo)
    assert [c.message.split("\n")[0] for c in commits] == [
        "podinfo.test: advance canary weight 30",
        "podinfo.test: advance canary weight 20",
        "podinfo.test: advance canary weight 10",
    ]
    assert [len(c.parents) for c in commits] == [1, 1, 0]
    trailers = [StepTrailers.from_message(c.message) for c in commits]
    assert [t.canary_weight if t else None for t in trailers] == [30, 20, 10]


def test_objects_no_longer_rendered_are_removed(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1))
    result = recorder.record(step(2, items=manifests()[1:]))

    assert result.commit_id is not None
    tree = repo[result.commit_id].peel(pygit2.Commit).tree
    assert sorted(tree_paths(tree)) == [
        "local/test/podinfo/canary.yaml",
        "local/test/podinfo/deployment-podinfo-primary.yaml",
    ]


def test_other_canaries_and_files_keep_their_objects(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1, canary=podinfo("frontend", "prod")))
    before = repo.revparse_single("refs/heads/main").peel(pygit2.Commit).tree
    result = recorder.record(step(1))

    assert result.commit_id is not None
    after = repo[result.commit_id].peel(pygit2.Commit).tree
    assert after["local/prod"].id == before["local/prod"].id
    assert sorted(tree_paths(after)) == [
        "local/prod/frontend/canary.yaml",
        "local/prod/frontend/deployment-podinfo-primary.yaml",
        "local/prod/frontend/service-podinfo.yaml",
        "local/test/podinfo/canary.yaml",
        "local/test/podinfo/deployment-podinfo-primary.yaml",
        "local/test/podinfo/service-podinfo.yaml",
    ]


def test_prefix_may_have_several_components(repo: pygit2.Repository) -> None:
    result = GitRecorder(repo, prefix="clusters/prod-eu").record(step(1))
    assert result.commit_id is not None
    tree = repo[result.commit_id].peel(pygit2.Commit).tree
    assert "clusters/prod-eu/test/podinfo/canary.yaml" in set(tree_paths(tree))


def test_canary_snapshot_holds_spec_and_status(repo: pygit2.Repository) -> None:
    GitRecorder(repo).record(step(2, weight=20, failed_checks=1))
    snapshot = file_at_head(repo, "local/test/podinfo/canary.yaml")
    assert snapshot.startswith("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata:\n  name: podinfo\n")
    assert "\nspec:\n" in snapshot and "  targetRef:\n" in snapshot
    assert snapshot.endswith(
        "status:\n"
        "  canaryWeight: 20\n"
        "  failedChecks: 1\n"
        "  iterations: 0\n"
        f"  lastAppliedSpec: sha256:{'ab' * 32}\n"
        "  lastPromotedSpec: ''\n"
        "  phase: Progressing\n"
        "  step: 2\n"
    )


def test_secrets_never_enter_the_repo(repo: pygit2.Repository) -> None:
    recorder = GitRecorder(repo)
    recorder.record(step(1, items=manifests(secret=True)))
    recorder.record(step(2, weight=20, items=manifests(secret=True)))

    seen = 0
    for oid in repo.odb:
        raw = repo.odb.read(oid)[1]
        assert SECRET_VALUE.encode() not in raw and SECRET_B64.encode() not in raw, repo[oid].type_str
        seen += 1
    assert seen > 5
    paths = set(tree_paths(repo.revparse_single("refs/heads/main").peel(pygit2.Commit).tree))
    assert not any("secret" in p for p in paths)
    snapshot = file_at_head(repo, "local/test/podinfo/canary.yaml")
    checksum = manifests(secret=True)[2].checksum
    sealed = ChecksumKey.for_git_dir(repo.path).seal(checksum)
    assert f"secretChecksums:\n  secret-podinfo-token-primary: {sealed}\n" in snapshot
    assert sealed.startswith("hmac-sha256:") and checksum not in snapshot


class RacedRecorder(GitRecorder):
    """Lets a rival writer commit once, between this recorder's read of the head and its move."""

    def __init__(self, repo: pygit2.Repository, rival: Callable[[], object]) -> None:
        super().__init__(repo)
        self.rival: Callable[[], object] | None = rival

    def _advance(self, ref: pygit2.Reference | None, commit: pygit2.Oid, message: str) -> bool:
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival()
        return super()._advance(ref, commit, message)


def test_a_writer_that_loses_the_race_rebuilds_on_the_new_head(repo: pygit2.Repository) -> None:
    GitRecorder(repo).record(step(1))
    other = GitRecorder(pygit2.Repository(repo.path))
    raced = RacedRecorder(repo, lambda: other.record(step(1, canary=podinfo("frontend", "prod"))))

    result = raced.record(step(2, weight=20))

    commits = head_commits(repo)
    assert result.commit_id == str(commits[0].id)
    assert [c.message.split("\n")[0] for c in commits] == [
        "podinfo.test: advance canary weight 20",
        "frontend.prod: advance canary weight 10",
        "podinfo.test: advance canary weight 10",
    ]
    assert commits[0].parents[0].id == commits[1].id
    assert "local/prod/frontend/canary.yaml" in commits[0].tree


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads every microsecond so writers interleave between reading and moving the head."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_concurrent_writers_lose_no_commit(tmp_path: Path) -> None:
    path = tmp_path / "config"
    open_repository(path)
    errors: list[BaseException] = []

    def write(index: int) -> None:
        recorder = GitRecorder(path)  # one repository object per thread, as libgit2 wants
        canary = podinfo(f"app{index}", "test")
        try:
            for number in range(1, 6):
                assert recorder.record(step(number, canary=canary, weight=number * 10)).commit_id
        except BaseException as err:  # surfaced below: a thread's assertion is otherwise lost
            errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    commits = head_commits(pygit2.Repository(str(path)))
    assert len(commits) == 30
    per_canary: dict[str, list[int]] = {}
    for commit in reversed(commits):
        trailers = StepTrailers.from_message(commit.message)
        assert trailers is not None
        per_canary.setdefault(trailers.canary, []).append(trailers.canary_weight)
    assert per_canary == {f"test/app{i}": [10, 20, 30, 40, 50] for i in range(6)}


def test_a_directory_that_is_not_a_repository_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(PermanentError, match=r"exists but is not a git repository$"):
        GitRecorder(tmp_path)


def test_a_file_is_not_a_repository(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(PermanentError, match=r"is a file, not a git repository$"):
        GitRecorder(path)


def test_a_missing_path_becomes_a_bare_repository(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.git"
    GitRecorder(path).record(step(1))
    repo = pygit2.Repository(str(path))
    assert repo.is_bare
    assert repo.head.name == "refs/heads/main"


def test_a_directory_inside_another_repository_is_not_that_repository(tmp_path: Path) -> None:
    pygit2.init_repository(str(tmp_path / "outer"), bare=False)
    inner = tmp_path / "outer" / "sub"
    inner.mkdir()
    (inner / "x").write_text("x")
    with pytest.raises(PermanentError, match="exists but is not a git repository"):
        GitRecorder(inner)


def test_invalid_branch_name_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match=r"invalid branch name 'bad\.\.name'"):
        GitRecorder(tmp_path / "r", branch="bad..name")
    assert not (tmp_path / "r").exists()


def test_recording_on_another_branch_leaves_main_alone(repo: pygit2.Repository) -> None:
    GitRecorder(repo).record(step(1))
    main = repo.references["refs/heads/main"].target
    result = GitRecorder(repo, branch="preview").record(step(2, weight=20))
    assert result.commit_id is not None
    assert repo.references["refs/heads/main"].target == main
    assert str(repo.references["refs/heads/preview"].target) == result.commit_id
