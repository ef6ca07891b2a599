"""``gitflagger simulate`` with a Gateway API Canary: each step records an HTTPRoute with its weights."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
import pytest
import yaml
from click.testing import CliRunner

from gitflagger.cli.main import cli
from tests.unit.cli.test_simulate_cli import ROOT, TIMELINES

PODINFO = ROOT / "fixtures" / "podinfo"
GATEWAYAPI = ROOT / "fixtures" / "gatewayapi" / "canary.yaml"
"""Beside podinfo/, not in it: `simulate fixtures/podinfo/*.yaml` must hold one Canary test/podinfo."""
CANARY_DIR = "local/test/podinfo"


def _simulate(repo: Path, canary: Path, story: str, *extra: str) -> tuple[int, str]:
    fixtures = [str(PODINFO / n) for n in ("deployment.yaml", "hpa.yaml")]
    args = ["simulate", *fixtures, str(canary), "--timeline", str(TIMELINES / f"{story}.yaml")]
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo), "--output", "json", *extra])
    return result.exit_code, result.output


def _ticks(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


def _tree(repo: Path, commit: str) -> dict[str, Any]:
    git = pygit2.Repository(str(repo))
    tree = git.revparse_single(commit).tree / CANARY_DIR
    return {e.name: yaml.safe_load(git[e.id].data) for e in tree}  # type: ignore[union-attr]


def _weights(route: dict[str, Any]) -> tuple[int, int]:
    [rule] = route["spec"]["rules"]
    by_name = {b["name"]: b["weight"] for b in rule["backendRefs"]}
    return by_name["podinfo-primary"], by_name["podinfo-canary"]


@pytest.mark.parametrize(("story", "phase"), [("promote", "Succeeded"), ("rollback", "Failed")])
def test_every_step_records_an_http_route_with_that_steps_weights(
    tmp_path: Path, story: str, phase: str
) -> None:
    repo = tmp_path / "config.git"
    code, output = _simulate(repo, GATEWAYAPI, story)
    assert code == 0, output
    ticks = _ticks(output)
    assert ticks[-1]["phase"] == phase
    seen = set()
    for tick in ticks:
        for commit in tick["commits"] or [tick["commit"]]:
            if not commit:
                continue
            files = _tree(repo, commit)
            assert "httproute-podinfo.yaml" in files
            assert not [f for f in files if f.startswith(("virtualservice-", "destinationrule-"))]
        if tick["commit"]:
            route = _tree(repo, tick["commit"])["httproute-podinfo.yaml"]
            assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
            assert _weights(route) == (tick["primaryWeight"], tick["canaryWeight"]), tick
            seen.add(tick["canaryWeight"])
    assert seen >= {0, 10}, "the story shifted traffic"
    assert _weights(_tree(repo, "refs/heads/main")["httproute-podinfo.yaml"]) == (100, 0)


def test_mesh_provider_routes_a_canary_that_names_none(tmp_path: Path) -> None:
    doc = yaml.safe_load(GATEWAYAPI.read_text())
    del doc["spec"]["provider"]
    canary = tmp_path / "canary.yaml"
    canary.write_text(yaml.safe_dump(doc))
    code, output = _simulate(tmp_path / "r.git", canary, "promote", "--mesh-provider", "gatewayapi:v1beta1")
    assert code == 0, output
    route = _tree(tmp_path / "r.git", "refs/heads/main")["httproute-podinfo.yaml"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1beta1"

    code, output = _simulate(tmp_path / "istio.git", canary, "promote")
    assert code != 0
    assert output.strip().splitlines() == [
        "error: invalid Canary test/podinfo: spec.service.gatewayRefs: not used with provider istio: "
        "it names Gateway API parents; istio routes through service.gateways"
    ]


def test_an_unknown_provider_is_one_line_naming_spec_provider(tmp_path: Path) -> None:
    doc = yaml.safe_load(GATEWAYAPI.read_text())
    doc["spec"]["provider"] = "linkerd"
    canary = tmp_path / "canary.yaml"
    canary.write_text(yaml.safe_dump(doc))
    code, output = _simulate(tmp_path / "r.git", canary, "promote")
    assert code != 0
    [line] = output.strip().splitlines()
    assert line.startswith('error: invalid Canary test/podinfo: spec.provider: unsupported "linkerd"')

    code, output = _simulate(tmp_path / "r.git", canary, "promote", "--mesh-provider", "linkerd")
    assert code == 2
    assert "--mesh-provider" in output and "Traceback" not in output
