"""``gitflagger simulate`` end to end on the fixtures, through click, into real repositories."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
from click.testing import CliRunner

from gitflagger.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
PODINFO = [str(ROOT / "fixtures" / "podinfo" / n) for n in ("deployment.yaml", "hpa.yaml", "canary.yaml")]
TIMELINES = ROOT / "fixtures" / "timelines"


def simulate_json(repo: Path, story: str) -> list[dict[str, Any]]:
    args = ["simulate", *PODINFO, "--timeline", str(TIMELINES / f"{story}.yaml"), "--repo", str(repo)]
    result = CliRunner().invoke(cli, [*args, "--output", "json"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    return [json.loads(line) for line in result.stdout.splitlines()]


def subjects(repo: Path) -> list[str]:
    """The branch's commit subjects, oldest first: the story as `git log --reverse` tells it."""
    git = pygit2.Repository(str(repo))
    commits = list(git.walk(git.references["refs/heads/main"].target))
    return [c.message.split("\n", 1)[0] for c in reversed(commits)]


def test_promotion_story(tmp_path: Path) -> None:
    repo = tmp_path / "promote.git"
    ticks = simulate_json(repo, "promote")

    assert set(ticks[0]) == {
        "canary",
        "tick",
        "time",
        "phase",
        "canaryWeight",
        "primaryWeight",
        "failedChecks",
        "iterations",
        "events",
        "subject",
        "commit",
        "commits",
        "skipped",
    }
    progressing = [t["canaryWeight"] for t in ticks if t["phase"] == "Progressing" and t["canaryWeight"]]
    assert progressing == [10, 20, 30, 40, 50]
    assert [t["phase"] for t in ticks][-3:] == ["Promoting", "Finalising", "Succeeded"]
    assert ticks[-1]["canaryWeight"] == 0 and ticks[-1]["primaryWeight"] == 100
    assert ticks[-1]["events"] == ["Promotion completed! Scaling down podinfo.test"]
    assert ticks[3]["time"] == "2026-01-01T00:03:00Z"

    git = pygit2.Repository(str(repo))
    head = git.references["refs/heads/main"].peel(pygit2.Commit)
    assert str(head.id) == ticks[-1]["commit"]
    primary = head.tree["local/test/podinfo/deployment-podinfo-primary.yaml"]
    assert isinstance(primary, pygit2.Blob)
    assert "image: ghcr.io/stefanprodan/podinfo:6.0.1\n" in primary.data.decode()
    assert subjects(repo) == [
        "podinfo.test: initializing, creating podinfo-primary",
        "podinfo.test: initialization done",
        "podinfo.test: new revision detected, scaling up",
        "podinfo.test: advance canary weight 10",
        "podinfo.test: advance canary weight 20",
        "podinfo.test: advance canary weight 30",
        "podinfo.test: advance canary weight 40",
        "podinfo.test: advance canary weight 50",
        "podinfo.test: promoting, copying template spec to podinfo-primary",
        "podinfo.test: finalising, routing all traffic to primary",
        "podinfo.test: promotion completed",
    ]


def test_rollback_story(tmp_path: Path) -> None:
    repo = tmp_path / "rollback.git"
    ticks = simulate_json(repo, "rollback")

    last = ticks[-1]
    assert (last["phase"], last["canaryWeight"], last["primaryWeight"], last["failedChecks"]) == (
        "Failed",
        0,
        100,
        5,
    )
    assert last["events"] == [
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    halts = [t["events"] for t in ticks if t["failedChecks"] and t["phase"] == "Progressing"]
    assert halts == [["Halt podinfo.test advancement success rate 95.50% < 99%"]] * 5
    assert subjects(repo) == [
        "podinfo.test: initializing, creating podinfo-primary",
        "podinfo.test: initialization done",
        "podinfo.test: new revision detected, scaling up",
        "podinfo.test: advance canary weight 10",
        "podinfo.test: advance canary weight 20",
        *["podinfo.test: halt advancement, success rate 95.50% < 99%"] * 5,
        "podinfo.test: rollback, failed checks threshold reached 5",
    ]
    git = pygit2.Repository(str(repo))
    head = git.references["refs/heads/main"].peel(pygit2.Commit)
    assert head.message_trailers["Phase"] == "Failed"
    assert head.message_trailers["Canary-Weight"] == "0"
    assert head.message_trailers["Failed-Checks"] == "5"


def test_table_output_tells_the_same_story(tmp_path: Path) -> None:
    repo = tmp_path / "promote.git"
    args = ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), "--repo", str(repo)]
    result = CliRunner().invoke(cli, args)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "simulate podinfo.test"
    header = [cell.strip() for cell in lines[2].strip("┃").split("┃")]
    assert header == ["Tick", "Time", "Phase", "Canary", "Primary", "Failed", "Iter", "Commit", "Events"]
    body = "\n".join(lines)
    for text in ("Advance podinfo.test canary weight 50", "Promoting", "Finalising", "Succeeded"):
        assert text in body
    assert lines[-1] == f"11 commits in {repo} (main)"


def test_repo_prefix_and_max_ticks(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    args = ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), "--repo", str(repo)]
    options = ["--repo-prefix", "clusters/eu", "--max-ticks", "2", "-o", "json"]
    result = CliRunner().invoke(cli, [*args, *options])

    assert result.exit_code == 0, result.output
    phases = [json.loads(line)["phase"] for line in result.stdout.splitlines()]
    assert phases == ["Initialized", "Progressing"]
    tree = pygit2.Repository(str(repo)).revparse_single("refs/heads/main").peel(pygit2.Commit).tree
    assert "clusters/eu/test/podinfo/canary.yaml" in tree


def test_simulating_into_a_non_bare_checkout_leaves_its_files_alone(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    pygit2.init_repository(str(checkout), bare=False, initial_head="main")
    (checkout / "README.md").write_text("mine\n")
    ticks = simulate_json(checkout, "promote")
    assert ticks[-1]["phase"] == "Succeeded"
    assert sorted(p.name for p in checkout.iterdir()) == [".git", "README.md"]
