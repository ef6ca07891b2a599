"""The Previous-Step chain and the per-canary index: history reads only the Canary's own commits."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import GitRecorder, StepTrailers, history_at, open_repository, read_history
from gitflagger.adapters.git.latest import REF_ROOT, index_new_commits, latest_step_commit
from gitflagger.adapters.git.trailers import with_previous_step
from gitflagger.model.status import Phase
from tests.unit.record.steps import head_commits, podinfo, step

FRONTEND = podinfo("frontend", "prod")


def interleaved(path: Path, rounds: int = 4) -> pygit2.Repository:
    repo = open_repository(path)
    recorder = GitRecorder(repo)
    for number in range(1, rounds + 1):
        recorder.record(step(number, weight=number * 10))
        recorder.record(step(number, canary=FRONTEND, weight=number * 5))
    return repo


def drop_index(repo: pygit2.Repository) -> None:
    for ref in list(repo.references.iterator()):
        if ref.name.startswith(REF_ROOT):
            ref.delete()


class CountingRepo:
    """Counts the objects read through ``repo[...]``, to show which commits history touches."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.reads: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.repo, name)

    def __getitem__(self, key: object) -> object:
        obj = self.repo[key]
        self.reads.append(str(obj.id))
        return obj


def test_each_step_names_the_canarys_previous_step(tmp_path: Path) -> None:
    repo = interleaved(tmp_path / "r")
    commits = list(reversed(head_commits(repo)))
    podinfo_steps = [c for c in commits if c.message.startswith("podinfo.test")]
    links = [StepTrailers.from_message(c.message).previous_step for c in podinfo_steps]  # type: ignore[union-attr]
    assert links == [None, *(str(c.id) for c in podinfo_steps[:-1])]
    assert podinfo_steps[1].message.rstrip("\n").endswith(f"Previous-Step: {podinfo_steps[0].id}")


def test_history_reads_only_the_canarys_commits(tmp_path: Path) -> None:
    repo = interleaved(tmp_path / "r", rounds=6)
    counting = CountingRepo(repo)
    head = repo.references["refs/heads/main"].target
    frontend = {str(c.id) for c in head_commits(repo) if c.message.startswith("frontend.prod")}

    rows = history_at(counting, head, "test/podinfo")  # type: ignore[arg-type]

    assert [r.trailers.canary_weight for r in rows] == [60, 50, 40, 30, 20, 10]
    assert frontend & set(counting.reads) == {str(head)}  # the head (a frontend step) is where reading starts


def test_history_without_the_index_walks_to_the_newest_step_then_follows_the_chain(tmp_path: Path) -> None:
    repo = interleaved(tmp_path / "r")
    drop_index(repo)
    rows = read_history(tmp_path / "r", "prod/frontend")
    assert [r.trailers.canary_weight for r in rows] == [20, 15, 10, 5]


def test_a_broken_link_falls_back_to_the_walk(tmp_path: Path) -> None:
    repo = interleaved(tmp_path / "r")
    ref = repo.references["refs/heads/main"]
    tip = ref.peel(pygit2.Commit)
    assert tip.message.startswith("frontend.prod")
    broken = with_previous_step(tip.message, "0" * 40)
    new = repo.create_commit(None, tip.author, tip.committer, broken, tip.tree.id, tip.parent_ids)
    ref.set_target(new)
    drop_index(repo)
    rows = read_history(tmp_path / "r", "prod/frontend")
    assert [r.trailers.canary_weight for r in rows] == [20, 15, 10, 5]


def test_limit_and_phase_changes(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    recorder = GitRecorder(repo)
    recorder.record(step(1, phase=Phase.INITIALIZED, weight=0))
    recorder.record(step(2, weight=10))
    recorder.record(step(3, weight=20))
    recorder.record(step(4, phase=Phase.FAILED, weight=0, failed_checks=5))

    rows = read_history(tmp_path / "r", "test/podinfo")
    limited = read_history(tmp_path / "r", "test/podinfo", limit=3)

    assert [(r.trailers.phase, r.previous_phase, r.phase_changed) for r in rows] == [
        ("Failed", "Progressing", True),
        ("Progressing", "Progressing", False),
        ("Progressing", "Initialized", True),
        ("Initialized", None, True),
    ]
    assert [(r.trailers.phase, r.previous_phase) for r in limited] == [
        (r.trailers.phase, r.previous_phase) for r in rows[:3]
    ]
    assert rows[0].metrics == {"request-duration": "120", "request-success-rate": "99.9"}


def test_history_follows_one_prefix(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    GitRecorder(repo, prefix="eu").record(step(1))
    GitRecorder(repo, prefix="us").record(step(1, weight=30))
    GitRecorder(repo, prefix="eu").record(step(2, weight=20))
    assert [r.trailers.canary_weight for r in read_history(tmp_path / "r", "test/podinfo", prefix="eu")] == [
        20,
        10,
    ]
    assert [r.trailers.canary_weight for r in read_history(tmp_path / "r", "test/podinfo", prefix="us")] == [
        30
    ]


def test_fetched_commits_are_indexed(tmp_path: Path) -> None:
    repo = interleaved(tmp_path / "r")
    drop_index(repo)
    head = repo.references["refs/heads/main"].target
    assert isinstance(head, pygit2.Oid)

    written = index_new_commits(repo, head, None, ("local",))

    assert written == 2
    commit = repo.references[f"{REF_ROOT}/local/test/podinfo"].peel(pygit2.Commit)
    assert commit.message.startswith("podinfo.test: advance canary weight 40")
    assert (
        latest_step_commit(repo, repo[head].peel(pygit2.Commit), ("local", "test", "podinfo"), "test/podinfo")
        == commit
    )


@pytest.mark.parametrize(
    ("message", "previous", "expected"),
    [
        pytest.param(
            "s\n\nStep-Id: a\n", "b" * 40, f"s\n\nStep-Id: a\nPrevious-Step: {'b' * 40}\n", id="add"
        ),
        pytest.param(
            f"s\n\nStep-Id: a\nPrevious-Step: {'c' * 40}\n",
            "b" * 40,
            f"s\n\nStep-Id: a\nPrevious-Step: {'b' * 40}\n",
            id="replace",
        ),
        pytest.param(f"s\n\nStep-Id: a\nPrevious-Step: {'c' * 40}\n", None, "s\n\nStep-Id: a\n", id="remove"),
    ],
)
def test_with_previous_step(message: str, previous: str | None, expected: str) -> None:
    assert with_previous_step(message, previous) == expected
