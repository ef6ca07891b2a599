"""The controller's commands on the testbed: reconcile [--dry-run], get canaries, and promote through git.

Run in-process through click (``CliRunner``) with the admin kubeconfig; the
RBAC side is covered by the run-loop tests. Manual control end to end: the
operator's ``gitflagger promote`` is a commit, the controller's next step
reads it, promotes, and acknowledges it with a commit of its own.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from click.testing import CliRunner

from gitflagger.adapters.kube import KubeCluster
from gitflagger.cli.main import cli
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    app_namespace,
    canary,
    create,
    git_log,
    kube,
    phase,
    podinfo,
    set_image,
    settled,
    wait_for,
)
from tests.testbed.cluster import Cluster
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.loopback import LoopbackServer

pytestmark = pytest.mark.testbed


@pytest.fixture
def app(kube: KubeCluster, kube_api: Any, namespace: str, meshsim: MeshSim) -> Iterator[str]:
    with LoopbackServer() as load_tester, app_namespace(kube_api, namespace) as ns:
        for obj in podinfo(ns, load_tester.url + "/", interval="10s"):
            create(kube, obj)
        yield ns


def gitflagger(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, f"gitflagger {' '.join(args)}: {result.stderr or result.stdout}"
    return result.stdout


def test_reconcile_previews_steps_and_promote_is_acted_on_at_the_next_step(
    cluster: Cluster, kube: KubeCluster, app: str, prometheus: Prometheus, tmp_path: Path
) -> None:
    ns, repo = app, tmp_path / "config.git"
    common = ["--kubeconfig", str(cluster.kubeconfig), "--repo", str(repo),
              "--metrics-server", prometheus.url]

    preview = gitflagger("reconcile", f"{ns}/podinfo", "--dry-run", *common, code=1)  # 1: a diff (flux diff)
    assert "initializing, creating podinfo-primary" in preview
    assert "#   actions: initialize, scale-canary-down" in preview
    assert "+++ b/local/" in preview and "deployment-podinfo-primary.yaml" in preview
    assert "+++ desired/Deployment/podinfo-primary" in preview
    assert not repo.exists(), "a dry run creates no repository"
    assert kube.get("apps/v1", "Deployment", ns, "podinfo-primary") is None
    assert "status" not in canary(kube, ns) or not canary(kube, ns)["status"].get("phase")

    assert "commit: " in gitflagger("reconcile", f"{ns}/podinfo", *common)
    wait_for("the primary", lambda: settled(kube, ns))
    gitflagger("reconcile", f"{ns}/podinfo", *common)
    assert phase(kube, ns) == "Initialized"
    settled_preview = gitflagger("reconcile", f"{ns}/podinfo", "--dry-run", *common)  # 0: no diff
    assert settled_preview.count("no changes") == 2, settled_preview
    (row,) = [json.loads(line) for line in gitflagger(
        "get", "canaries", "-n", ns, "-o", "json", "--kubeconfig", str(cluster.kubeconfig)).splitlines()]
    assert (row["name"], row["phase"], row["lastCommit"]) == ("podinfo", "Initialized", _head(repo))

    set_image(kube, ns, "6.0.1")
    gitflagger("reconcile", f"{ns}/podinfo", *common)  # new revision, scale up
    assert phase(kube, ns) == "Progressing"
    out = gitflagger("promote", f"{ns}/podinfo", "--repo", str(repo), "--reason", "demo: ship it")
    assert out.startswith(f"promote recorded for {ns}/podinfo")
    wait_for("the canary to roll out", lambda: settled(kube, ns))

    out = gitflagger("reconcile", f"{ns}/podinfo", *common)

    assert f"Manual promotion requested for podinfo.{ns}" in out
    assert phase(kube, ns) == "Promoting"
    before = git_log(repo)
    everything = gitflagger("run", "--dry-run", "-n", ns, *common)
    assert f"# {ns}/podinfo: podinfo.{ns}: " in everything and "(dry run: nothing recorded" in everything
    assert git_log(repo) == before and phase(kube, ns) == "Promoting"
    log = git_log(repo)
    assert log[-3:] == [
        f"podinfo.{ns}: promote requested",
        f"podinfo.{ns}: promoting, copying template spec to podinfo-primary",
        f"podinfo.{ns}: promote handled",
    ]


def _head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).references["refs/heads/main"].target)
