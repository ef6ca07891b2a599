"""The fault-injection suite: SIGKILL ``gitflagger run`` at each point of a step, restart on an empty cache.

The controller runs as in a cluster: its own process under deploy/'s RBAC,
recording over smart HTTP to the git server (basic auth from a file), with a
cache directory that is **fresh on every start**, as the shipped Deployment's
``emptyDir`` is after a restart. The kill points are exact: the controller's
kill switch (:mod:`gitflagger.killswitch`, armed by a file the test creates once
the rollout is at weight 10) or, for "during the push", a pre-receive hook on
the git server that holds the push until the test has killed the process.

After each run the invariant is checked against the server's repository:

* every canary weight the live VirtualService ever had, as seen by a watch
  running beside the controller, is the ``Canary-Weight`` of a commit there;
* every Step-Id appears once on the whole branch (every commit walked, not
  only one Canary's ``Previous-Step`` chain);
* the Canary's ``status.lastCommit`` is a commit of that branch.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest
from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from gitflagger.adapters.git import StepTrailers
from gitflagger.adapters.kube import KubeCluster
from gitflagger.render.routers.istio import route_weights
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    ControllerProcess,
    app_namespace,
    canary,
    events,
    kube,
    phase,
    podinfo,
    sa_kubeconfig,
    set_image,
    wait_for,
    weight,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.integration.test_kube_support import create
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.loopback import LoopbackServer

pytestmark = pytest.mark.testbed

INTERVAL = "5s"
"""Short, to keep the suite fast: a run is initialization, two steps, a kill, a restart and two more steps."""


class RouteWatch:
    """Every canary weight the live VirtualService ``podinfo`` ever had, from a watch of its own."""

    def __init__(self, kube_api: k8s_client.ApiClient, namespace: str) -> None:
        self.api = k8s_client.CustomObjectsApi(kube_api)
        self.namespace = namespace
        self.weights: set[int] = set()
        self.versions = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="route-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        version = ""
        while not self._stop.is_set():
            stream = k8s_watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in stream.stream(  # type: ignore[no-untyped-call]
                    self.api.list_namespaced_custom_object, "networking.istio.io", "v1beta1", self.namespace,
                    "virtualservices", field_selector="metadata.name=podinfo", resource_version=version,
                    timeout_seconds=2,
                ):
                    obj = event["object"]
                    version = str(obj.get("metadata", {}).get("resourceVersion", version))
                    weights = route_weights(obj, "podinfo-primary", "podinfo-canary")
                    if weights is not None:
                        self.weights.add(weights[1])
                        self.versions += 1
            except ApiException as err:
                if err.status == 410:
                    version = ""  # expired: list again (the watch's first events are the current objects)
            except Exception:  # a dropped connection: watch again from the last version
                self._stop.wait(0.2)

    def stop(self) -> set[int]:
        self._stop.set()
        self._thread.join(10)
        return set(self.weights)


def remote_steps(remote: Path, ns: str) -> list[StepTrailers]:
    """The Canary's steps on the remote branch, newest first (every commit walked)."""
    repo = pygit2.Repository(str(remote))
    head = repo.references["refs/heads/main"].target
    found = (StepTrailers.from_message(c.message) for c in repo.walk(head))
    return [t for t in found if t is not None and t.canary == f"{ns}/podinfo"]


def assert_invariant(kube: KubeCluster, remote: Path, ns: str, seen: set[int]) -> list[StepTrailers]:
    """The suite's invariant (module doc); returns this Canary's steps on the remote, newest first."""
    repo = pygit2.Repository(str(remote))
    head = repo.references["refs/heads/main"].target
    commits = list(repo.walk(head))
    steps = [(str(c.id), StepTrailers.from_message(c.message)) for c in commits]
    ids = Counter(t.step_id for _, t in steps if t is not None)
    twice = [sid for sid, count in ids.items() if count > 1]
    assert not twice, f"Step-Ids recorded more than once on the remote: {twice}"
    mine = [t for _, t in steps if t is not None and t.canary == f"{ns}/podinfo"]
    recorded = {t.canary_weight for t in mine}
    assert seen, "the route watch saw nothing"
    assert seen <= recorded, f"live weights the remote never recorded: {sorted(seen - recorded)}"
    last = (canary(kube, ns).get("status") or {}).get("lastCommit")
    assert last in {sha for sha, _ in steps}, f"status.lastCommit {last} is not on the remote"
    return mine


@pytest.fixture
def app(
    kube: KubeCluster, kube_api: Any, namespace: str, meshsim: MeshSim, prometheus: Prometheus
) -> Iterator[str]:
    """podinfo and its Canary at a 5s interval in their own namespace (``namespace`` is the controller's)."""
    with LoopbackServer() as load_tester, app_namespace(kube_api, namespace) as ns:
        for obj in podinfo(ns, load_tester.url + "/", interval=INTERVAL):
            create(kube, obj)
        yield ns


class Runs:
    """Starts controllers against the HTTP remote, each with a cache directory of its own."""

    def __init__(self, kubeconfig: Path, server: GitServer, repo: RepoUrls, prometheus: Prometheus, ns: str,
                 tmp: Path) -> None:
        self.kubeconfig, self.repo, self.prometheus, self.ns, self.tmp = kubeconfig, repo, prometheus, ns, tmp
        self.password = tmp / "git-password"
        self.password.write_text(server.password + "\n")
        self.username = server.username
        self.started: list[ControllerProcess] = []

    def start(self, name: str, *extra: str) -> ControllerProcess:
        proc = ControllerProcess(
            self.kubeconfig, self.repo.http, self.prometheus.url, self.ns, self.tmp / f"{name}.log",
            "--git-username", self.username, "--git-password-file", str(self.password),
            "--allow-insecure-http", "--repo-cache", str(self.tmp / f"cache-{name}"), *extra,
        )
        self.started.append(proc.start())
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            proc.stop()


@pytest.fixture
def runs(sa_kubeconfig: Path, git_server: GitServer, git_repo: RepoUrls, prometheus: Prometheus, app: str,
         tmp_path: Path) -> Iterator[Runs]:
    r = Runs(sa_kubeconfig, git_server, git_repo, prometheus, app, tmp_path)
    try:
        yield r
    finally:
        r.stop_all()


@contextlib.contextmanager
def route_watch(kube_api: Any, ns: str) -> Iterator[RouteWatch]:
    w = RouteWatch(kube_api, ns)
    try:
        yield w
    finally:
        w.stop()


def to_weight_10(kube: KubeCluster, ns: str) -> None:
    wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 120)
    set_image(kube, ns, "6.0.1")
    wait_for("the canary at weight 10", lambda: weight(kube, ns) >= 10, 120)


def killed(proc: ControllerProcess) -> bool:
    return proc.proc is not None and proc.proc.poll() is not None


@pytest.mark.parametrize("point", ["recorded", "persisted", "pushed", "applying", "applied"])
def test_a_controller_killed_at_a_point_of_a_step_loses_no_applied_step_on_a_fresh_cache(
    kube: KubeCluster, kube_api: Any, app: str, runs: Runs, git_repo: RepoUrls, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, point: str,
) -> None:
    ns = app
    armed = tmp_path / "kill-armed"
    monkeypatch.setenv("GITFLAGGER_KILL_AT", point)
    monkeypatch.setenv("GITFLAGGER_KILL_ARMED", str(armed))
    with route_watch(kube_api, ns) as watch:
        first = runs.start("first")
        to_weight_10(kube, ns)
        armed.touch()  # the next step (to weight 20) dies at the point
        wait_for(f"the kill at {point!r}", lambda: killed(first), 120, 0.2)
        assert first.proc is not None and first.proc.returncode == -9 and not armed.exists()
        before = weight(kube, ns)
        on_remote = {t.canary_weight for t in remote_steps(git_repo.path, ns)}
        runs.start("second")  # a fresh cache: it clones the remote
        wait_for("two more steps after the restart", lambda: weight(kube, ns) >= before + 20, 120)
        runs.stop_all()
        seen = watch.stop()
    mine = assert_invariant(kube, git_repo.path, ns, seen)
    assert {10, 20, 30} <= {t.canary_weight for t in mine}
    pushed = point in ("pushed", "applying", "applied")
    assert (before + 10 in on_remote) is pushed  # the kill came before the push, or after it
    # after the push, the restarted process found the step on the remote by its Step-Id
    assert ("duplicate-step" in (tmp_path / "second.log").read_text()) is pushed


def test_a_controller_killed_during_the_push_loses_no_applied_step_on_a_fresh_cache(
    kube: KubeCluster, kube_api: Any, app: str, runs: Runs, git_server: GitServer, git_repo: RepoUrls,
    tmp_path: Path,
) -> None:
    ns = app
    armed, held = tmp_path / "hook-armed", tmp_path / "hook-holding"
    hook = git_repo.path / "hooks" / "pre-receive"
    hook.write_text(  # the armed push is held 5 s, then let through: the remote takes it after the kill
        f"#!/bin/sh\ncat >/dev/null\nif rm '{armed}' 2>/dev/null; then touch '{held}'; sleep 5; fi\nexit 0\n"
    )
    hook.chmod(0o755)
    with route_watch(kube_api, ns) as watch:
        first = runs.start("first")
        to_weight_10(kube, ns)
        armed.touch()
        wait_for("the push held by the hook", held.exists, 120, 0.1)
        first.kill()
        before = weight(kube, ns)
        runs.start("second")
        wait_for("two more steps after the restart", lambda: weight(kube, ns) >= before + 20, 120)
        runs.stop_all()
        seen = watch.stop()
    assert_invariant(kube, git_repo.path, ns, seen)


def test_a_refused_push_holds_the_step_back_with_a_warning_until_the_remote_takes_it(
    kube: KubeCluster, kube_api: Any, app: str, runs: Runs, git_server: GitServer, git_repo: RepoUrls,
    tmp_path: Path,
) -> None:
    ns = app
    with route_watch(kube_api, ns) as watch:
        runs.start("only")
        to_weight_10(kube, ns)
        git_server.install_rejecting_hook(git_repo.path.name, "main is protected")

        def refusals() -> list[str]:
            return [m for t, m in events(kube, ns) if t == "Warning" and "step not applied" in m]

        wait_for("a Warning event about the refused push", refusals, 120)
        held = weight(kube, ns)
        log = tmp_path / "only.log"

        def held_back() -> int:
            return log.read_text().count("push failed, applying none")

        wait_for("the retry refused again", lambda: held_back() >= 2, 120)
        assert weight(kube, ns) == held  # nothing applied while the remote refuses
        assert "main is protected" in refusals()[0]
        git_server.remove_hook(git_repo.path.name)
        wait_for("the held step, then one more", lambda: weight(kube, ns) >= held + 20, 120)
        runs.stop_all()
        seen = watch.stop()
    assert_invariant(kube, git_repo.path, ns, seen)


def test_two_replicas_each_with_its_own_cache_lose_nothing_when_the_leader_dies_after_a_push(
    kube: KubeCluster, kube_api: Any, app: str, namespace: str, runs: Runs, git_repo: RepoUrls,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ns = app
    armed = tmp_path / "kill-armed"
    monkeypatch.setenv("GITFLAGGER_KILL_AT", "pushed")
    monkeypatch.setenv("GITFLAGGER_KILL_ARMED", str(armed))
    replicas = {}
    with route_watch(kube_api, ns) as watch:
        for name in ("replica-a", "replica-b"):
            monkeypatch.setenv("POD_NAME", name)
            replicas[name] = runs.start(name, "--leader-elect", "--lease-namespace", namespace)
        to_weight_10(kube, ns)
        armed.touch()  # the leader dies right after pushing its next step, before applying it
        dead = wait_for("the leader's kill", lambda: [n for n, p in replicas.items() if killed(p)], 120, 0.2)
        before = weight(kube, ns)
        wait_for("the other replica's two steps", lambda: weight(kube, ns) >= before + 20, 180)
        runs.stop_all()
        seen = watch.stop()
    survivor = next(n for n in replicas if n not in dead)
    assert len(dead) == 1 and "leading" in (tmp_path / f"{survivor}.log").read_text()
    assert_invariant(kube, git_repo.path, ns, seen)
