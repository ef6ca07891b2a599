"""``gitflagger run`` through an API server outage and beside an invalid Canary, under deploy/'s RBAC.

The outage test also records over HTTP to the git server (basic auth from a
mounted file), the way the controller runs in a cluster: commits are pushed
once per pass, and a step interrupted by the outage is neither lost nor
committed twice.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.kube import KubeCluster
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    ControllerProcess,
    app_namespace,
    assert_one_clean_release,
    create,
    events,
    kube,
    phase,
    podinfo,
    sa_kubeconfig,
    set_image,
    start,
    wait_for,
    weight,
    world,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.loopback import LoopbackServer

pytestmark = pytest.mark.testbed


def test_a_30s_api_server_outage_mid_rollout_loses_and_repeats_nothing(
    cluster: Cluster, kube: KubeCluster, world: str, sa_kubeconfig: Path, prometheus: Prometheus,
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path,
) -> None:
    ns = world
    password = tmp_path / "git-password"
    password.write_text(git_server.password + "\n")
    controller = ControllerProcess(
        sa_kubeconfig, git_repo.http, prometheus.url, ns, tmp_path / "controller.log",
        "--git-username", git_server.username, "--git-password-file", str(password),
        "--allow-insecure-http", "--repo-cache", str(tmp_path / "cache"),
    ).start()
    try:
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 120)
        set_image(kube, ns, "6.0.1")
        wait_for("the canary at weight 20", lambda: weight(kube, ns) >= 20, 180)
        cluster.stop_apiserver()
        try:
            time.sleep(30)
            assert controller.proc is not None and controller.proc.poll() is None, "the controller died"
        finally:
            cluster.start_apiserver()
        wait_for("the promotion", lambda: phase(kube, ns) == "Succeeded", 300, 1)
    finally:
        controller.stop()
    assert_one_clean_release(git_repo.path, ns)  # the server's own repository: everything was pushed
    log = (tmp_path / "controller.log").read_text()
    assert "watch failed, listing again" in log
    assert git_server.password not in log


def test_an_invalid_canary_is_a_warning_naming_the_field_and_the_others_carry_on(
    kube: KubeCluster, kube_api: Any, namespace: str, sa_kubeconfig: Path, meshsim: MeshSim,
    prometheus: Prometheus, git_repo: RepoUrls, tmp_path: Path,
) -> None:
    with LoopbackServer() as load_tester, app_namespace(kube_api, namespace) as ns:
        objects = podinfo(ns, load_tester.url + "/", interval="10s")
        broken = copy.deepcopy(next(o for o in objects if o["kind"] == "Canary"))
        broken["metadata"]["name"] = "broken"
        broken["spec"]["canaryAnalysis"]["maxWeight"] = 5  # below stepWeight 10: no step could fit
        create(kube, broken)
        for obj in objects:
            create(kube, obj)
        controller = start(sa_kubeconfig, git_repo, prometheus, ns, tmp_path / "controller.log")
        try:
            wait_for("podinfo to initialize", lambda: phase(kube, ns) == "Initialized", 120)
            warnings = [m for t, m in events(kube, ns) if t == "Warning" and "broken" in m]
            assert controller.proc is not None and controller.proc.poll() is None
        finally:
            controller.stop()
    assert len(warnings) == 1, warnings
    assert "spec.canaryAnalysis.maxWeight" in warnings[0]
