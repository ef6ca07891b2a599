"""``--dry-run``: the diff each step would commit; nothing written, nothing created."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import pygit2
from click.testing import CliRunner

from gitflagger.adapters.git import (
    DryRunRecorder,
    FileDiff,
    GitRecorder,
    RecordedStep,
    SkipReason,
    open_repository,
)
from gitflagger.cli.main import cli
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES
from tests.unit.record.steps import manifests, step


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under ``path`` with its content: proof that nothing was written."""
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


class Collected:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[FileDiff]]] = []

    def __call__(self, step: RecordedStep, diffs: Sequence[FileDiff]) -> None:
        self.calls.append((step.decision.subject, list(diffs)))


def test_each_step_is_diffed_against_what_the_previous_would_have_committed(tmp_path: Path) -> None:
    repo = open_repository(tmp_path / "r")
    GitRecorder(repo).record(step(1))
    before = snapshot(tmp_path / "r")
    sink = Collected()
    head = repo.references["refs/heads/main"].target
    assert isinstance(head, pygit2.Oid)
    recorder = DryRunRecorder(repo, head, sink)

    results = [
        recorder.record(step(1)),
        recorder.record(step(2, weight=20, items=manifests("podinfo:6.0.1"))),
    ]
    recorder.flush()

    assert [r.skipped_reason for r in results] == [SkipReason.DRY_RUN, SkipReason.DRY_RUN]
    assert [r.commit_id for r in results] == [None, None]
    assert sink.calls[0][1] == []  # step 1 is what the head holds
    changed = sink.calls[1][1]
    assert [(d.path, d.status) for d in changed] == [
        ("local/test/podinfo/canary.yaml", "modified"),
        ("local/test/podinfo/deployment-podinfo-primary.yaml", "modified"),
    ]
    assert "-        - image: podinfo:6.0.0\n+        - image: podinfo:6.0.1\n" in changed[1].text
    assert changed[1].text.startswith(
        "--- a/local/test/podinfo/deployment-podinfo-primary.yaml\n"
        "+++ b/local/test/podinfo/deployment-podinfo-primary.yaml\n"
    )
    assert snapshot(tmp_path / "r") == before


def test_a_repo_that_does_not_exist_is_not_created(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "simulate",
            *PODINFO,
            "--timeline",
            str(TIMELINES / "promote.yaml"),
            "--repo",
            str(tmp_path / "new"),
            "--dry-run",
        ],
    )
    assert result.exit_code == 1, result.output  # 1: there is a diff, as `flux diff` says
    assert not (tmp_path / "new").exists()
    assert "+++ b/local/test/podinfo/virtualservice-podinfo.yaml" in result.stdout
    assert "--- /dev/null" in result.stdout
    assert result.stdout.splitlines()[-1] == f"dry run: nothing recorded in {tmp_path / 'new'} (main)"


def test_simulate_dry_run_against_a_recorded_repo_writes_nothing_and_prints_plain_diffs(
    tmp_path: Path,
) -> None:
    repo = tmp_path / "r.git"

    def args(story: str) -> list[str]:
        return ["simulate", *PODINFO, "--timeline", str(TIMELINES / f"{story}.yaml"), "--repo", str(repo)]

    assert CliRunner().invoke(cli, args("promote")).exit_code == 0
    before = snapshot(repo)

    again = CliRunner().invoke(cli, [*args("promote"), "--dry-run"])
    other = CliRunner().invoke(cli, [*args("rollback"), "--dry-run", "-o", "json"])

    assert again.exit_code == 1 and other.exit_code == 1, again.output + other.output
    assert snapshot(repo) == before
    assert "\x1b[" not in again.stdout  # piped: no colour codes
    ticks = [json.loads(line) for line in other.stdout.splitlines()]
    assert all(t["commit"] is None and t["skipped"] == "dry-run" for t in ticks)
    changed = [d for t in ticks for d in t["diff"]]
    assert any(d["path"].endswith("canary.yaml") and "+  phase: Failed" in d["text"] for d in changed)


def test_diffs_are_coloured_on_a_terminal(tmp_path: Path) -> None:
    args = [
        "simulate",
        *PODINFO,
        "--timeline",
        str(TIMELINES / "promote.yaml"),
        "--repo",
        str(tmp_path / "n"),
    ]
    result = CliRunner().invoke(
        cli, [*args, "--dry-run"], color=True, env={"TERM": os.environ.get("TERM", "xterm")}
    )
    assert result.exit_code == 1, result.output
    assert "\x1b[32m+" in result.stdout and "\x1b[1m+++ b/local/test/podinfo/" in result.stdout
