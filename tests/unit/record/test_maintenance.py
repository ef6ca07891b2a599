"""Maintenance: loose objects packed, refs packed, a commit-graph with changed-path Bloom filters."""

from __future__ import annotations

import subprocess
from pathlib import Path

from gitflagger.adapters.git import GitRecorder, open_repository
from gitflagger.adapters.git.maintenance import loose_objects_estimate, maintain, maintain_if_needed
from tests.unit.record.steps import podinfo, step


def loose_objects(git_dir: Path) -> int:
    return sum(1 for d in (git_dir / "objects").iterdir() if len(d.name) == 2 for _ in d.iterdir())


def graph_chunks(git_dir: Path) -> bytes:
    chain = git_dir / "objects" / "info" / "commit-graphs"
    return b"".join(p.read_bytes() for p in chain.glob("*.graph"))


def busy_repo(path: Path, canaries: int = 5, steps: int = 4) -> Path:
    repo = open_repository(path)
    recorder = GitRecorder(repo, maintenance_threshold=0)
    for number in range(1, steps + 1):
        for index in range(canaries):
            recorder.record(step(number, canary=podinfo(f"app{index}", "test"), weight=number * 10))
    return Path(repo.path)


def test_maintain_packs_and_writes_a_commit_graph_with_bloom_filters(tmp_path: Path) -> None:
    git_dir = busy_repo(tmp_path / "r")
    assert loose_objects(git_dir) > 20

    report = maintain(git_dir)

    assert report.ran == ("repack", "pack-refs", "commit-graph") and report.failed is None
    assert loose_objects(git_dir) == 0
    assert (git_dir / "packed-refs").read_text().count("refs/gitflagger/canaries/local/test/app") == 5
    chunks = graph_chunks(git_dir)
    assert b"BIDX" in chunks and b"BDAT" in chunks  # the changed-path Bloom filter chunks
    verify = subprocess.run(
        ["git", "--git-dir", str(git_dir), "commit-graph", "verify"], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stderr
    log = subprocess.run(
        ["git", "--git-dir", str(git_dir), "log", "--format=%s", "--", "local/test/app3/"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert log.stdout.splitlines() == [f"app3.test: advance canary weight {w}" for w in (40, 30, 20, 10)]


def test_maintenance_runs_only_above_the_threshold(tmp_path: Path) -> None:
    git_dir = busy_repo(tmp_path / "r", canaries=2, steps=2)
    estimate = loose_objects_estimate(git_dir)
    assert maintain_if_needed(git_dir, threshold=estimate + 1) is None
    assert maintain_if_needed(git_dir, threshold=0) is None  # 0 switches maintenance off
    assert loose_objects(git_dir) > 0


def test_a_recorder_maintains_at_flush_when_due(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    recorder = GitRecorder(repo, maintenance_threshold=1)
    for number in range(1, 500):  # until one object lands in objects/17, the sampled directory
        recorder.record(step(number, weight=number % 100))
        if loose_objects_estimate(repo.path) >= 1:
            break
    assert loose_objects_estimate(repo.path) >= 1
    recorder.flush()
    recorder.maintenance.wait()  # flush starts it in the background
    assert loose_objects(Path(repo.path)) == 0
