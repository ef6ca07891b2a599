"""``gitflagger get canaries`` reaches the testbed with only ``$KUBECONFIG`` set, as kubectl would.

No ``--kubeconfig``, no ``~/.kube/config`` (``$HOME`` is empty) and no in-cluster variables:
the colon-separated ``$KUBECONFIG`` list (a missing file first, skipped as kubectl skips it)
is the only way to the API server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.kube import KubeCluster
from gitflagger.cli.main import cli
from tests.integration.controller_support import podinfo
from tests.integration.test_kube_support import create
from tests.testbed.cluster import Cluster

pytestmark = pytest.mark.testbed


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client())
    try:
        yield kc
    finally:
        kc.close()


def test_get_canaries_finds_the_cluster_through_kubeconfig_alone(
    cluster: Cluster, kube: KubeCluster, namespace: str, tmp_path: Path
) -> None:
    for obj in podinfo(namespace, "http://flagger-loadtester.test/"):
        if obj["kind"] == "Canary":
            create(kube, obj)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "KUBECONFIG": os.pathsep.join([str(tmp_path / "missing"), str(cluster.kubeconfig)]),
        "HOME": str(home),
        "KUBERNETES_SERVICE_HOST": None,
        "KUBERNETES_SERVICE_PORT": None,
    }

    result = CliRunner(env=env).invoke(cli, ["get", "canaries", "-n", namespace, "-o", "json"])

    assert result.exit_code == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["namespace"], row["name"]) == (namespace, "podinfo")

    # Without it, nothing is found, and the error names every place looked at.
    result = CliRunner(env={**env, "KUBECONFIG": None}).invoke(cli, ["get", "canaries", "-n", namespace])
    assert result.exit_code == 1
    assert "no cluster found" in result.stderr and "~/.kube/config" in result.stderr
