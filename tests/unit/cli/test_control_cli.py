"""gitflagger promote|abort|retry record intents; run, reconcile and get fail in one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.git import open_repository
from gitflagger.adapters.git.intents import read_intent
from gitflagger.cli.main import cli
from gitflagger.decide import ManualIntent
from tests.unit.cli.test_simulate_cli import simulate_json


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("intent", list(ManualIntent))
def test_each_intent_becomes_a_commit_the_controller_reads(tmp_path: Path, intent: ManualIntent) -> None:
    repo = tmp_path / "config.git"
    simulate_json(repo, "promote")  # the controller has stepped test/podinfo

    code, out, err = invoke(intent.value, "test/podinfo", "--repo", str(repo), "--reason", "INC-1")

    assert (code, err) == (0, "")
    assert out.startswith(f"{intent.value} recorded for test/podinfo: commit ")
    pending = read_intent(open_repository(repo), "test/podinfo")
    assert pending is not None and pending.intent is intent
    head = open_repository(repo).revparse_single("main")
    assert "INC-1" in head.message and f"Intent: {intent.value}" in head.message


def test_an_intent_for_a_missing_repo_is_refused_rather_than_creating_one(tmp_path: Path) -> None:
    code, _, err = invoke("promote", "test/podinfo", "--repo", str(tmp_path / "nope"))
    assert code == 1 and err.startswith("error: ") and "no git repository here" in err
    assert not (tmp_path / "nope").exists()


def test_a_malformed_canary_reference_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("abort", "podinfo", "--repo", str(tmp_path))
    assert code == 2 and "NAMESPACE/NAME" in err


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--repo", "REPO", "--once"],
        ["reconcile", "test/podinfo", "--repo", "REPO"],
        ["get", "canaries"],
    ],
    ids=["run", "reconcile", "get"],
)
def test_a_bad_kubeconfig_is_one_line_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("this: is not a kubeconfig\n")
    args = [str(tmp_path / "config.git") if a == "REPO" else a for a in args]

    code, _, err = invoke(*args, "--kubeconfig", str(kubeconfig))

    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_run_refuses_an_unknown_apply_mode(tmp_path: Path) -> None:
    code, _, err = invoke("run", "--repo", str(tmp_path), "--apply-mode", "kubectl")
    assert code == 2 and "apply-mode" in err


@pytest.mark.parametrize("args, said", [
    (["--flux-kustomization", "flux-system/canaries"],
     "--flux-kustomization needs --apply-mode git-only with --gitops-tool flux"),
    (["--apply-mode", "git-only", "--gitops-tool", "other", "--flux-source", "flux-system/config"],
     "--flux-source needs --apply-mode git-only with --gitops-tool flux"),
    (["--apply-mode", "git-only", "--flux-kustomization", "canaries"],
     "--flux-kustomization: expected NAMESPACE/NAME, got 'canaries'"),
])
def test_run_refuses_a_flux_flag_it_would_ignore_or_cannot_read(
    tmp_path: Path, args: list[str], said: str
) -> None:
    code, _, err = invoke("run", "--repo", str(tmp_path / "config.git"), *args)
    assert code == 2 and said in err and "Traceback" not in err
