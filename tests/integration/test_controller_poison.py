"""A poison Canary beside a healthy one: ``gitflagger run`` refuses it, releases the other, never exits.

The poison Canary nests ``spec.service.trafficPolicy`` 600 levels deep, which
the CRD keeps (unknown fields are preserved there). It used to raise
``RecursionError`` in render, and the controller exited and crash-looped,
stopping every rollout in the cluster. Run under deploy/'s RBAC, with
``/healthz`` served.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import requests

from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    app_namespace,
    assert_one_clean_release,
    canary,
    create,
    events,
    kube,
    phase,
    podinfo,
    sa_kubeconfig,
    set_image,
    start,
    wait_for,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.testbed.gitserver import RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus, free_port
from tests.unit.adapters.loopback import LoopbackServer

pytestmark = pytest.mark.testbed

LEVELS = 600


def _healthz(port: int) -> int:
    try:
        return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code
    except requests.RequestException:
        return 0


def test_a_poison_canary_is_refused_while_the_healthy_one_is_released_and_the_controller_runs_on(
    kube: KubeCluster, kube_api: Any, namespace: str, sa_kubeconfig: Path, meshsim: MeshSim,
    prometheus: Prometheus, git_repo: RepoUrls, tmp_path: Path,
) -> None:
    with LoopbackServer() as load_tester, app_namespace(kube_api, namespace) as ns:
        objects = podinfo(ns, load_tester.url + "/", interval="10s")
        poison = copy.deepcopy(next(o for o in objects if o["kind"] == "Canary"))
        poison["metadata"]["name"] = "poison"
        deep: dict[str, Any] = {"tls": {"mode": "ISTIO_MUTUAL"}}
        for _ in range(LEVELS):
            deep = {"loadBalancer": deep}
        poison["spec"]["service"]["trafficPolicy"] = deep
        create(kube, poison)
        for obj in objects:
            create(kube, obj)
        stored = canary(kube, ns, "poison")["spec"]["service"]["trafficPolicy"]
        for _ in range(LEVELS):  # the API server kept every level
            stored = stored["loadBalancer"]
        assert stored == {"tls": {"mode": "ISTIO_MUTUAL"}}

        port = free_port()
        controller = start(sa_kubeconfig, git_repo, prometheus, ns, tmp_path / "controller.log",
                           "--metrics-addr", f"127.0.0.1:{port}")
        try:
            wait_for("podinfo to initialize", lambda: phase(kube, ns) == "Initialized", 180)
            set_image(kube, ns, "6.0.1")
            wait_for("podinfo to be promoted", lambda: phase(kube, ns) == "Succeeded", 420, 1)
            warnings = [m for t, m in events(kube, ns) if t == "Warning" and f"{ns}/poison" in m]
            assert controller.proc is not None and controller.proc.poll() is None, "the controller exited"
            assert _healthz(port) == 200
        finally:
            code = controller.stop()
    assert code == 0  # it stopped on SIGTERM, not before
    assert_one_clean_release(git_repo.path, ns)  # podinfo's steps: each committed once, in order
    assert read_history(git_repo.path, f"{ns}/poison") == []  # nothing of the poison one
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"invalid Canary {ns}/poison: spec.service.trafficPolicy.loadBalancer.")
    assert warnings[0].endswith("...: nests deeper than 64 levels")
    log = (tmp_path / "controller.log").read_text()
    assert "RecursionError" not in log
