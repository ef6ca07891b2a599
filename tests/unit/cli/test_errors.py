"""Every failure is one line on stderr, ``error: …``, with exit code 2 for usage and 1 otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger import __version__
from gitflagger.cli.main import cli, main
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES

PROMOTE = str(TIMELINES / "promote.yaml")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def assert_one_line_error(stderr: str, expected: str) -> None:
    assert stderr == f"error: {expected}\n"


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    code, out, err = invoke("simulate", str(tmp_path / "nope.yaml"), "--timeline", PROMOTE, "--repo", "r")
    assert code == 2 and out == ""
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(err, f"Invalid value for 'FILE...': File '{missing}' does not exist.")


def test_missing_required_option_is_a_usage_error() -> None:
    code, _, err = invoke("simulate", *PODINFO, "--repo", "r")
    assert code == 2
    assert_one_line_error(err, "Missing option '--timeline'.")


def test_bad_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Canary\nmetadata: {name: x\n")
    code, _, err = invoke("simulate", str(bad), "--timeline", PROMOTE, "--repo", str(tmp_path / "r"))
    assert code == 1
    assert err.startswith(f"error: invalid YAML: {bad}:3:1: ") and err.count("\n") == 1


def test_timeline_typo_names_the_entry(tmp_path: Path) -> None:
    timeline = tmp_path / "t.yaml"
    timeline.write_text("timeline:\n  - tick: 0\n  - tick: 1\n  - tick: 2\n    metrcs: {}\n")
    code, out, err = invoke("simulate", *PODINFO, "--timeline", str(timeline), "--repo", str(tmp_path / "r"))
    assert code == 1 and out == ""
    assert_one_line_error(err, "invalid timeline: timeline[2].metrcs: unknown key")


def test_invalid_canary_lists_its_problems_on_one_line(tmp_path: Path) -> None:
    invalid = Path(__file__).resolve().parents[3] / "fixtures" / "invalid" / "step-weight-zero.yaml"
    files = [PODINFO[0], PODINFO[1], str(invalid)]
    code, _, err = invoke("simulate", *files, "--timeline", PROMOTE, "--repo", str(tmp_path / "r"))
    assert code == 1
    assert err.startswith("error: invalid Canary") and err.count("\n") == 1


def test_a_typo_in_a_canary_file_is_refused_by_its_path(tmp_path: Path) -> None:
    typo = Path(__file__).resolve().parents[3] / "fixtures" / "invalid" / "unknown-fields.yaml"
    code, out, err = invoke(
        "simulate", PODINFO[0], PODINFO[1], str(typo), "--timeline", PROMOTE, "--repo", str(tmp_path / "r")
    )
    assert code == 1 and out == ""
    assert err.startswith("error: invalid Canary test/podinfo: ") and err.count("\n") == 1
    assert (
        "spec.servce: is not a Canary field" in err
        and "spec.analysis.stepWeigth: is not a Canary field" in err
    )
    assert not (tmp_path / "r").exists()


def test_repo_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    code, _, err = invoke("simulate", *PODINFO, "--timeline", PROMOTE, "--repo", str(tmp_path))
    assert code == 1
    assert_one_line_error(err, f"{tmp_path}: exists but is not a git repository")


def test_history_without_a_repository(tmp_path: Path) -> None:
    code, _, err = invoke("history", "test/podinfo", "--repo", str(tmp_path / "none"))
    assert code == 1
    assert_one_line_error(err, f"{tmp_path / 'none'}: no git repository here")


@pytest.mark.parametrize("ref", ["podinfo", "/podinfo", "test/", "a/b/c"])
def test_history_needs_namespace_and_name(ref: str, tmp_path: Path) -> None:
    code, _, err = invoke("history", ref, "--repo", str(tmp_path))
    assert code == 2
    assert_one_line_error(err, f"Invalid value for 'NS/NAME': expected NAMESPACE/NAME, got '{ref}'")


def test_unknown_command_and_option() -> None:
    code, _, err = invoke("rollout")
    assert (code, err) == (2, "error: No such command 'rollout'.\n")
    code, _, err = invoke("simulate", "--colour")
    assert (code, err) == (2, "error: No such option '--colour'.\n")


@pytest.mark.parametrize("command", [[], ["simulate"], ["history"]])
def test_every_command_has_help_with_examples(command: list[str]) -> None:
    code, out, err = invoke(*command, "--help")
    assert code == 0 and err == ""
    assert re.search(r"\n *Examples:\n +gitflagger ", out), out
    assert out.startswith(f"Usage: gitflagger {' '.join(command)}".rstrip() + " [OPTIONS]")


def test_version() -> None:
    assert invoke("--version") == (0, f"gitflagger, version {__version__}\n", "")


def test_the_console_script_exits_with_the_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["gitflagger", "history", "bad"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    expected = "Invalid value for 'NS/NAME': expected NAMESPACE/NAME, got 'bad'"
    assert_one_line_error(capsys.readouterr().err, expected)
