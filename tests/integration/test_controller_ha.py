"""``gitflagger run`` as real processes under deploy/'s RBAC: restarts and a leader lost mid-rollout.

The controller runs as its ServiceAccount (a real token, deploy/rbac.yaml
installed as shipped), with a 10s analysis interval, against the real API
server, Prometheus fed by the mesh simulator, and a git server repository.
What must hold whatever happens to the processes: the rollout completes,
every step is committed exactly once, in order, and no step comes earlier
than one interval after the previous one.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from tests.integration.controller_support import (
    ControllerProcess,
    app_namespace,
    canary,
    create,
    history_weights,
    phase,
    podinfo,
    service_account_kubeconfig,
    set_image,
    step_ids,
    step_times,
    wait_for,
)
from tests.integration.test_deploy_rbac import Installed, admin, installed  # noqa: F401 (fixtures)
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.deploy.kube_http import KubeHttp

pytestmark = pytest.mark.testbed

INTERVAL = 10
RELEASE = [
    ("Progressing", 0),
    *[("Progressing", w) for w in (10, 20, 30, 40, 50)],
    ("Promoting", 50),
    ("Finalising", 0),
    ("Succeeded", 0),
]


@pytest.fixture
def kube(cluster: Cluster) -> Iterator[KubeCluster]:
    kc = KubeCluster(cluster.kube_client(), qps=100, burst=100)
    try:
        yield kc
    finally:
        kc.close()


@pytest.fixture
def world(
    kube: KubeCluster, kube_api: Any, namespace: str, meshsim: MeshSim, prometheus: Prometheus
) -> Iterator[str]:
    """podinfo and its Canary (10s interval) in a namespace of its own; yields that namespace.

    The test's ``namespace`` is the controller's (deploy/ installed there).
    """
    with LoopbackServer() as load_tester, app_namespace(kube_api, namespace) as app:
        for obj in podinfo(app, load_tester.url + "/", interval=f"{INTERVAL}s"):
            create(kube, obj)
        yield app


@pytest.fixture
def sa_kubeconfig(cluster: Cluster, admin: KubeHttp, installed: Installed, tmp_path: Path) -> Path:  # noqa: F811
    return service_account_kubeconfig(cluster, admin, installed, tmp_path / "kubeconfig")


def start(kubeconfig: Path, repo: RepoUrls, prometheus: Prometheus, ns: str, log: Path,
          *extra: str) -> ControllerProcess:
    return ControllerProcess(kubeconfig, repo.path, prometheus.url, ns, log, *extra).start()


def weight(kube: KubeCluster, ns: str) -> int:
    return int((canary(kube, ns).get("status") or {}).get("canaryWeight", 0))


def assert_one_clean_release(repo: Path, ns: str) -> None:
    ref = f"{ns}/podinfo"
    ids = step_ids(repo, ref)
    assert len(ids) == len(set(ids)), "a step was committed twice"
    steps = history_weights(repo, ref)
    story = [h.subject for h in read_history(repo, ref)][::-1]
    assert steps[:2] == [("Initializing", 0), ("Initialized", 0)], story
    assert steps[2:] == RELEASE, story
    times = step_times(repo, ref)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= INTERVAL, f"a step came early: {gaps}"


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
