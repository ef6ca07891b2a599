"""sessionAffinity through the real pipeline: decide, render and record into a repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pygit2
import yaml
from click.testing import CliRunner

from gitflagger.cli.main import cli
from tests.unit.cli.test_simulate_cli import ROOT, TIMELINES

CANARY_DIR = "local/test/podinfo"


def _canary_with_affinity(tmp: Path) -> Path:
    doc = yaml.safe_load((ROOT / "fixtures" / "podinfo" / "canary-v1beta1.yaml").read_text())
    doc["spec"]["analysis"]["sessionAffinity"] = {"cookieName": "flagger-cookie", "maxAge": 21600}
    path = tmp / "canary.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _simulate(repo: Path, canary: Path, story: str) -> list[dict[str, Any]]:
    fixtures = [str(ROOT / "fixtures" / "podinfo" / n) for n in ("deployment.yaml", "hpa.yaml")]
    args = ["simulate", *fixtures, str(canary), "--timeline", str(TIMELINES / f"{story}.yaml")]
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo), "--output", "json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def _file(repo: Path, commit: str, name: str) -> dict[str, Any]:
    git = pygit2.Repository(str(repo))
    blob = git.revparse_single(commit).tree[f"{CANARY_DIR}/{name}"]
    doc = yaml.safe_load(git[blob.id].data)
    assert isinstance(doc, dict)
    return doc


def test_a_promotion_hands_out_one_cookie_then_expires_it(tmp_path: Path) -> None:
    repo = tmp_path / "sticky.git"
    ticks = _simulate(repo, _canary_with_affinity(tmp_path), "promote")
    weighted = [t for t in ticks if t["canaryWeight"] > 0 and t["commit"]]
    assert weighted, ticks
    cookies = set()
    for tick in weighted:
        http = _file(repo, tick["commit"], "virtualservice-podinfo.yaml")["spec"]["http"]
        sticky, route = http
        assert sticky["name"] == "sticky-route"
        set_cookie = route["route"][1]["headers"]["response"]["add"]["Set-Cookie"]
        cookie = set_cookie.removesuffix("; Max-Age=21600")
        name, value = cookie.split("=")
        assert sticky["match"] == [{"headers": {"Cookie": {"regex": f".*{name}.*{value}.*"}}}]
        status = _file(repo, tick["commit"], "canary.yaml")["status"]
        assert status["sessionAffinityCookie"] == cookie
        cookies.add(cookie)
    [cookie] = cookies

    last = ticks[-1]
    assert last["phase"] == "Succeeded"
    status = _file(repo, "refs/heads/main", "canary.yaml")["status"]
    assert "sessionAffinityCookie" not in status
    assert status["previousSessionAffinityCookie"] == cookie
    sticky = _file(repo, "refs/heads/main", "virtualservice-podinfo.yaml")["spec"]["http"][0]
    assert sticky["headers"]["response"]["add"]["Set-Cookie"] == f"{cookie}; Max-Age=-1"


def test_the_same_story_renders_the_same_bytes(tmp_path: Path) -> None:
    canary = _canary_with_affinity(tmp_path)
    first, second = tmp_path / "a.git", tmp_path / "b.git"
    _simulate(first, canary, "rollback")
    _simulate(second, canary, "rollback")
    trees = [pygit2.Repository(str(r)).revparse_single("refs/heads/main").tree.id for r in (first, second)]
    assert trees[0] == trees[1]
    status = _file(first, "refs/heads/main", "canary.yaml")["status"]
    assert status["phase"] == "Failed"
    assert status["previousSessionAffinityCookie"].startswith("flagger-cookie=")
