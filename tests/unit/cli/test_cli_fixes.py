"""The CLI's rough edges, each with its exit code: help, several Canaries, history formats, refusals, env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from gitflagger.cli.main import cli
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES, simulate_json

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
GITFLAGGER = Path(sys.executable).parent / "gitflagger"


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).references["refs/heads/main"].target)


@pytest.mark.parametrize("args", [[], ["get"]], ids=["gitflagger", "gitflagger get"])
def test_a_bare_group_prints_its_help_and_exits_0(args: list[str]) -> None:
    code, out, err = invoke(*args)
    assert (code, err) == (0, "")
    assert out.startswith(f"Usage: gitflagger {' '.join(args)}".rstrip() + " [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in out and "error" not in out


def test_the_readme_glob_of_two_canaries_simulates_them(tmp_path: Path) -> None:
    """fixtures/podinfo/*.yaml holds test/podinfo twice (v1alpha3 and v1beta1, one spec): simulated once."""
    files = sorted(str(p) for p in (FIXTURES / "podinfo").glob("*.yaml"))
    code, out, err = invoke("simulate", *files, "--timeline", str(TIMELINES / "rollback.yaml"),
                            "--repo", str(tmp_path / "r.git"))
    assert (code, err) == (0, ""), err
    assert out.count("simulate podinfo.test") == 1 and "11 commits in" in out


def _second_canary(tmp_path: Path) -> Path:
    """A copy of the podinfo app named `other`, in a file of its own."""
    names = ("canary.yaml", "deployment.yaml", "hpa.yaml")
    text = "---\n".join((FIXTURES / "podinfo" / f).read_text() for f in names)
    path = tmp_path / "other.yaml"
    path.write_text(text.replace("name: podinfo", "name: other"))
    return path


def test_several_canaries_are_each_simulated_or_one_is_picked(tmp_path: Path) -> None:
    files = [*PODINFO, str(_second_canary(tmp_path))]
    timeline = ["--timeline", str(TIMELINES / "promote.yaml")]

    code, out, err = invoke("simulate", *files, *timeline, "--repo", str(tmp_path / "all.git"), "-o", "json")
    assert (code, err) == (0, "")
    assert {json.loads(line)["canary"] for line in out.splitlines()} == {"test/podinfo", "test/other"}

    code, out, err = invoke("simulate", *files, *timeline, "--repo", str(tmp_path / "one.git"), "-o", "json",
                            "--canary", "test/other")
    assert (code, err) == (0, "")
    assert {json.loads(line)["canary"] for line in out.splitlines()} == {"test/other"}

    no = ["--repo", str(tmp_path / "no.git"), "--canary", "test/x"]
    code, out, err = invoke("simulate", *files, *timeline, *no)
    assert code == 1 and out == ""
    assert err == "error: --canary test/x: not in the files, which hold test/other, test/podinfo\n"
    assert not (tmp_path / "no.git").exists()


def test_one_name_with_two_different_specs_is_refused(tmp_path: Path) -> None:
    changed = tmp_path / "changed.yaml"
    original = (FIXTURES / "podinfo" / "canary-v1beta1.yaml").read_text()
    changed.write_text(original.replace("maxWeight: 50", "maxWeight: 30"))
    code, _, err = invoke("simulate", *PODINFO, str(changed), "--timeline", str(TIMELINES / "promote.yaml"),
                          "--repo", str(tmp_path / "r.git"))
    assert code == 1 and err.count("\n") == 1
    assert "Canary test/podinfo is in the files twice, with different specs" in err


def test_simulate_dry_run_exits_1_on_a_diff(tmp_path: Path) -> None:
    code, out, _ = invoke("simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"),
                          "--repo", str(tmp_path / "r.git"), "--dry-run")
    assert code == 1 and "+++ b/local/test/podinfo/canary.yaml" in out


@pytest.mark.parametrize("width", [80, 120])
def test_history_cuts_nothing_at_80_or_120_columns(tmp_path: Path, width: int) -> None:
    repo = tmp_path / "r.git"
    simulate_json(repo, "rollback")
    code, out, _ = invoke("history", "test/podinfo", "--repo", str(repo), env={"COLUMNS": str(width)})
    assert code == 0
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= width
    for row in json.loads(invoke("history", "test/podinfo", "--repo", str(repo), "-o", "json")[1])["steps"]:
        assert row["commit"][:10] in out
    assert "request-success-rate: 95.50" in out  # Flagger's two decimals
    wide = invoke("history", "test/podinfo", "--repo", str(repo), "--wide", env={"COLUMNS": str(width)})[1]
    assert "│ halt advancement, success rate 95.50% < 99% │" in wide


def test_history_metric_values_have_two_decimals(tmp_path: Path) -> None:
    repo = tmp_path / "r.git"
    simulate_json(repo, "promote")
    out = invoke("history", "test/podinfo", "--repo", str(repo), "--wide")[1]
    assert "request-success-rate: 99.90" in out and "request-duration: 120.00" in out


def test_history_json_yaml_and_jsonl(tmp_path: Path) -> None:
    repo = tmp_path / "r.git"
    simulate_json(repo, "rollback")
    base = ["history", "test/podinfo", "--repo", str(repo)]

    as_json = json.loads(invoke(*base, "-o", "json")[1])  # one document
    as_yaml = YAML(typ="safe").load(invoke(*base, "-o", "yaml")[1])
    lines = [json.loads(line) for line in invoke(*base, "-o", "jsonl")[1].splitlines()]

    assert as_json["canary"] == "test/podinfo" and len(as_json["steps"]) == 11
    assert as_yaml == as_json
    assert lines == as_json["steps"]
    assert as_json["steps"][1]["metrics"] == {"request-duration": 120, "request-success-rate": 95.5}


@pytest.mark.parametrize("intent", ["promote", "abort", "retry"])
def test_an_intent_for_an_unknown_canary_commits_nothing(tmp_path: Path, intent: str) -> None:
    repo = tmp_path / "r.git"
    simulate_json(repo, "promote")
    before = head(repo)
    code, out, err = invoke(intent, "test/podinfo-typo", "--repo", str(repo))
    assert (code, out) == (1, "")
    assert err == (f"error: test/podinfo-typo: no such Canary in {repo} (main): nothing recorded in "
                   "local/test/podinfo-typo/; nothing committed (check the name and --repo-prefix)\n")
    assert head(repo) == before


def test_repo_and_prefix_come_from_the_environment(tmp_path: Path) -> None:
    repo = tmp_path / "r.git"
    code, _, err = invoke("simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"),
                          env={"GITFLAGGER_REPO": str(repo), "GITFLAGGER_REPO_PREFIX": "prod"})
    assert (code, err) == (0, "")
    env = {"GITFLAGGER_REPO": str(repo), "GITFLAGGER_REPO_PREFIX": "prod"}
    steps = json.loads(invoke("history", "test/podinfo", "-o", "json", env=env)[1])["steps"]
    assert steps and steps[0]["phase"] == "Succeeded"
    code, _, err = invoke("history", "test/podinfo", "--repo-prefix", "local", "-o", "json", env=env)
    assert code == 0 and json.loads(_)["steps"] == []  # a flag wins over its variable
    token = invoke("history", "-h")[1]
    assert "GITFLAGGER_GIT_TOKEN_FILE" in token and "GITFLAGGER_SSH_KEY" in token


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str) -> None:
    code, out, err = invoke("completion", shell)
    assert (code, err) == (0, "") and "_GITFLAGGER_COMPLETE" in out
    if shell == "bash":
        assert subprocess.run(["bash", "-n"], input=out, text=True).returncode == 0


def test_completion_completes_the_installed_commands() -> None:
    env = {**os.environ, "COMP_WORDS": "gitflagger hi", "COMP_CWORD": "1",
           "_GITFLAGGER_COMPLETE": "bash_complete"}
    done = subprocess.run([str(GITFLAGGER)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.split() == ["plain,history"]
