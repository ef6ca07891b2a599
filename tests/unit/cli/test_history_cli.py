"""``gitflagger history``: the recorded steps of one Canary, read back from git."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gitflagger.cli.main import cli
from tests.unit.cli.test_simulate_cli import simulate_json


def test_history_json_mirrors_the_simulation(tmp_path: Path) -> None:
    repo = tmp_path / "promote.git"
    ticks = simulate_json(repo, "promote")

    result = CliRunner().invoke(cli, ["history", "test/podinfo", "--repo", str(repo), "-o", "jsonl"])

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    committed = [commit for t in ticks for commit in t["commits"]]
    assert [r["commit"] for r in rows] == committed[::-1]
    assert [(r["phase"], r["canaryWeight"], r["failedChecks"]) for r in rows[:3]] == [
        ("Succeeded", 0, 0),
        ("Finalising", 0, 0),
        ("Promoting", 50, 0),
    ]
    assert rows[0]["time"] == ticks[-1]["time"]
    assert rows[0]["subject"] == "podinfo.test: promotion completed"
    assert rows[0]["revision"].startswith("sha256:")
    assert rows[0]["stepId"].endswith(f"/{rows[0]['revision']}/11")


def test_history_table_with_limit(tmp_path: Path) -> None:
    repo = tmp_path / "rollback.git"
    simulate_json(repo, "rollback")

    result = CliRunner().invoke(cli, ["history", "test/podinfo", "--repo", str(repo), "--limit", "2"])

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].strip() == "test/podinfo: recorded steps, newest first"
    header = [cell.strip() for cell in lines[2].strip("┃").split("┃")]
    assert header == ["Time", "Phase", "Weight", "Failed", "Metrics", "Commit", "Subject"]
    rows = table_rows(lines)
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        ("2026-01-01T00:09:00Z", "Progressing → Failed", "0", "5"),
        ("2026-01-01T00:08:00Z", "Progressing", "20", "5"),
    ]
    assert [r[4] for r in rows] == ["", "request-duration: 120.00 request-success-rate: 95.50"]
    assert [r[6] for r in rows] == [  # the title names the Canary: no "podinfo.test: " on every row
        "rollback, failed checks threshold reached 5",
        "halt advancement, success rate 95.50% < 99%",
    ]


def table_rows(lines: list[str]) -> list[list[str]]:
    """The table's rows, each cell's wrapped lines joined with a space."""
    rows: list[list[str]] = []
    for line in lines:
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
    return rows


def test_history_of_a_canary_with_no_steps(tmp_path: Path) -> None:
    repo = tmp_path / "promote.git"
    simulate_json(repo, "promote")

    table = CliRunner().invoke(cli, ["history", "prod/other", "--repo", str(repo)])
    as_json = CliRunner().invoke(cli, ["history", "prod/other", "--repo", str(repo), "-o", "jsonl"])

    last = table.stdout.splitlines()[-1]
    assert (
        table.exit_code == 0
        and last == "no steps recorded for prod/other in local/prod/other/ (see --repo-prefix)"
    )
    assert as_json.exit_code == 0 and as_json.stdout == ""


def test_a_file_url_is_the_local_repo(tmp_path: Path) -> None:
    repo = tmp_path / "promote.git"
    simulate_json(repo, "promote")

    by_url = CliRunner().invoke(cli, ["history", "test/podinfo", "--repo", f"file://{repo}", "-o", "jsonl"])
    by_path = CliRunner().invoke(cli, ["history", "test/podinfo", "--repo", str(repo), "-o", "jsonl"])

    assert by_url.exit_code == 0, by_url.output
    assert by_url.stdout == by_path.stdout and by_url.stdout.count("\n") > 5


def test_another_prefix_has_its_own_history(tmp_path: Path) -> None:
    repo = tmp_path / "promote.git"
    simulate_json(repo, "promote")
    result = CliRunner().invoke(
        cli, ["history", "test/podinfo", "--repo", str(repo), "--repo-prefix", "eu-1"]
    )
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == (
        "no steps recorded for test/podinfo in eu-1/test/podinfo/ (see --repo-prefix)"
    )
