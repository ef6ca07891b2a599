"""``gitflagger run`` as real processes under deploy/'s RBAC: restarts and a leader lost mid-rollout.

The controller runs as its ServiceAccount (a real token, deploy/rbac.yaml
installed as shipped), with a 10s analysis interval, against the real API
server, Prometheus fed by the mesh simulator, and a git server repository.
What must hold whatever happens to the processes: the rollout completes,
every step is committed exactly once, in order, and no step comes earlier
than one interval after the previous one.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import time
from pathlib import Path

import pytest

from gitflagger.adapters.kube import KubeCluster
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    ControllerProcess,
    assert_one_clean_release,
    kube,
    phase,
    sa_kubeconfig,
    set_image,
    start,
    wait_for,
    weight,
    world,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.testbed.gitserver import RepoUrls
from tests.testbed.prometheus import Prometheus

pytestmark = pytest.mark.testbed

def test_a_controller_killed_mid_rollout_resumes_from_status_without_repeating_a_step(
    kube: KubeCluster, world: str, sa_kubeconfig: Path, prometheus: Prometheus, git_repo: RepoUrls,
    tmp_path: Path,
) -> None:
    ns = world
    first = start(sa_kubeconfig, git_repo, prometheus, ns, tmp_path / "first.log")
    second = ControllerProcess(sa_kubeconfig, git_repo.path, prometheus.url, ns, tmp_path / "second.log")
    try:
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 120)
        set_image(kube, ns, "6.0.1")
        wait_for("the canary at weight 20", lambda: weight(kube, ns) >= 20, 180)
        first.kill()
        time.sleep(3)  # the Canary's step comes due while nobody runs
        second.start()
        wait_for("the promotion", lambda: phase(kube, ns) == "Succeeded", 240, 1)
    finally:
        first.stop()
        second.stop()
    assert_one_clean_release(git_repo.path, ns)
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")


def test_when_the_leader_dies_the_other_replica_finishes_the_rollout(
    kube: KubeCluster, world: str, namespace: str, sa_kubeconfig: Path, prometheus: Prometheus,
    git_repo: RepoUrls, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = world
    replicas = {}
    for name in ("replica-a", "replica-b"):
        monkeypatch.setenv("POD_NAME", name)
        replicas[name] = start(sa_kubeconfig, git_repo, prometheus, ns, tmp_path / f"{name}.log",
                               "--leader-elect", "--lease-namespace", namespace)
    try:
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 120)
        set_image(kube, ns, "6.0.1")
        wait_for("the canary at weight 20", lambda: weight(kube, ns) >= 20, 180)
        lease = kube.get("coordination.k8s.io/v1", "Lease", namespace, "gitflagger-leader")
        assert lease is not None
        leader = lease["spec"]["holderIdentity"]
        follower = next(n for n in replicas if n != leader)
        replicas[leader].kill()
        wait_for("the promotion", lambda: phase(kube, ns) == "Succeeded", 300, 1)
        lease = kube.get("coordination.k8s.io/v1", "Lease", namespace, "gitflagger-leader")
        assert lease is not None and lease["spec"]["holderIdentity"] == follower
    finally:
        for proc in replicas.values():
            proc.stop()
    assert_one_clean_release(git_repo.path, ns)
    assert "leading" in (tmp_path / f"{follower}.log").read_text()
