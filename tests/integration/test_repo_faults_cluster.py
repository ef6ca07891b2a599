"""`reconcile` and `run --once` on an invalid Canary leave no config repo behind (the testbed's API server).

The API server accepts the Canary (its schema checks shapes, not meaning:
``stepWeight: 0``); gitflagger refuses it. A repository the command created
for it must not outlive the command.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.kube import KubeCluster
from gitflagger.cli.main import cli
from tests.integration import controller_support
from tests.integration.controller_support import create
from tests.testbed.cluster import Cluster

pytestmark = pytest.mark.testbed
kube = controller_support.kube  # the fixture

INVALID = Path(__file__).resolve().parents[2] / "fixtures" / "invalid" / "step-weight-zero.yaml"


def test_an_invalid_canary_leaves_no_repo_behind(
    cluster: Cluster, kube: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    (doc,) = load_documents([INVALID])
    doc["metadata"]["namespace"] = namespace
    create(kube, doc)
    common = ["--kubeconfig", str(cluster.kubeconfig), "--metrics-server", "http://127.0.0.1:9"]

    repo = tmp_path / "reconcile.git"
    result = CliRunner().invoke(cli, ["reconcile", f"{namespace}/podinfo", "--repo", str(repo), *common])
    assert result.exit_code == 1, result.output
    assert "spec.analysis.stepWeight: must be between 1 and 100, got 0" in result.stderr
    assert not repo.exists()

    repo = tmp_path / "run.git"
    result = CliRunner().invoke(cli, ["run", "--once", "--namespace", namespace, "--metrics-addr", "",
                                      "--repo", str(repo), *common])
    assert "stepWeight" in result.output, result.output
    assert not repo.exists()
