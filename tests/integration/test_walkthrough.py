"""The seed walkthrough end to end: Flagger's Istio tutorial, on the testbed, with gitflagger.

podinfo's Deployment, HPA and the tutorial's v1alpha3 Canary go into a fresh
namespace of the real control plane. The controller's step function runs on
the real cluster as deploy/'s ServiceAccount (a real token, the shipped RBAC),
measures with the real Prometheus (fed by the mesh simulator, which makes
6.0.2 fail 30% of requests and 6.0.3 answer slowly) and records over HTTP into
a repository of the testbed's git server, pushing after every step. Steps are taken
as soon as the world is ready for them instead of waiting out the 1m
interval (the interval's pacing is the run loop's job, tested on its own):
before a step that judges metrics, the test waits until Prometheus has seen
canary traffic at the current weight.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder, RepoSettings
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.reconcile import StepOutcome
from gitflagger.loadtester.api import LoadTester, LoadTesterConfig
from gitflagger.loadtester.server import LoadTesterServer
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    Driver,
    app_namespace,
    canary,
    canary_requests,
    canary_traffic,
    create,
    events,
    git_log,
    kube,
    phase,
    podinfo,
    sa_kubeconfig,
    set_image,
    settled,
    step_ids,
    wait_for,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus

pytestmark = pytest.mark.testbed

GENERATED = [
    ("apps/v1", "Deployment", "podinfo-primary"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "podinfo-primary"),
    ("v1", "Service", "podinfo"),
    ("v1", "Service", "podinfo-primary"),
    ("v1", "Service", "podinfo-canary"),
    ("networking.istio.io/v1beta1", "VirtualService", "podinfo"),
    ("networking.istio.io/v1beta1", "DestinationRule", "podinfo-primary"),
    ("networking.istio.io/v1beta1", "DestinationRule", "podinfo-canary"),
]


@pytest.fixture
def load_tester() -> Iterator[LoadTesterServer]:
    """Flagger's load tester, gitflagger's own: the hook's ``hey`` runs (the mesh simulator makes
    the traffic Prometheus sees, as hey cannot reach a cluster-internal name from here)."""
    server = LoadTesterServer(LoadTester(LoadTesterConfig()), host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop(grace=5)


def run_until(
    kube: KubeCluster, driver: Driver, prometheus: Prometheus, want: str, limit: int = 30
) -> list[StepOutcome]:
    """Step until the Canary's phase is ``want``, each step once the world (seen as admin, ``kube``)
    is ready for it."""
    out: list[StepOutcome] = []
    baseline = 0.0

    def fresh(since: float) -> bool:
        # Enough new requests, and over at least two scrapes: rate() needs both, or the
        # step would read "no values found" for a series Prometheus has seen only once.
        return (canary_requests(prometheus, driver.namespace) or 0) >= since + 60 and (
            canary_traffic(prometheus, driver.namespace) is not None
        )

    for _ in range(limit):
        wait_for("the deployments to roll out", lambda: settled(kube, driver.namespace))
        status = canary(kube, driver.namespace).get("status") or {}
        if status.get("phase") == "Progressing" and int(status.get("canaryWeight", 0)) > 0:
            # Judge the current weight on fresh data: wait until Prometheus has scraped a few
            # seconds of canary traffic since the last step.
            wait_for("fresh canary traffic in Prometheus", lambda since=baseline: fresh(since))
        baseline = canary_requests(prometheus, driver.namespace) or 0
        out.append(driver.step())
        if phase(kube, driver.namespace) == want:
            return out
    pytest.fail(f"never reached {want}: {[o.decision.subject for o in out if o.decision]}")


def quiet(prometheus: Prometheus, ns: str) -> None:
    """Wait until the canary workload's last traffic has left the 1m metric window."""
    wait_for("the last release's traffic to leave the 1m window", lambda: not canary_traffic(prometheus, ns),
             timeout=150, every=2)


@pytest.fixture
def app(kube: KubeCluster, kube_api: Any, namespace: str, load_tester: LoadTesterServer) -> Iterator[str]:
    """The tutorial's objects, in a namespace beside the controller's (``namespace``)."""
    with app_namespace(kube_api, namespace) as ns:
        for obj in podinfo(ns, load_tester.url + "/"):
            create(kube, obj)
        yield ns


@pytest.fixture
def driver(
    app: str, sa_kubeconfig: Path, git_server: GitServer, git_repo: RepoUrls, prometheus: Prometheus,
    tmp_path: Path,
) -> Iterator[Driver]:
    password = tmp_path / "git-password"
    password.write_text(git_server.password + "\n")
    remote = RemoteConfig(git_repo.http, username=git_server.username, password_file=password,
                          allow_insecure_http=True)
    recorder = RepoSettings(remote, cache_root=tmp_path / "cache").recorder()
    assert isinstance(recorder, RemoteRecorder)
    controller_view = KubeCluster.connect(str(sa_kubeconfig))
    try:
        yield Driver.build(controller_view, app, recorder, git_repo.path, prometheus.url)
    finally:
        controller_view.close()


def test_the_tutorial_promotes_a_good_release_and_rolls_back_two_bad_ones(
    kube: KubeCluster, app: str, driver: Driver, prometheus: Prometheus, meshsim: MeshSim,
    git_repo: RepoUrls, load_tester: LoadTesterServer,
) -> None:
    ns = app

    # -- initialization: Flagger's objects, with Flagger's names ---------------------------------
    run_until(kube, driver, prometheus, "Initialized")
    for api_version, kind, name in GENERATED:
        assert kube.get(api_version, kind, ns, name) is not None, f"{kind} {name}"
    assert kube.get("apps/v1", "Deployment", ns, "podinfo")["spec"]["replicas"] == 0
    assert events(kube, ns)[-1] == ("Normal", f"Initialization done! podinfo.{ns}")

    # -- 6.0.1: healthy, advances 10 → 50 and promotes ----------------------------------------
    seen = len(events(kube, ns))
    set_image(kube, ns, "6.0.1")
    run_until(kube, driver, prometheus, "Succeeded")
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    story = [m for _, m in events(kube, ns)[seen:]]
    c = f"podinfo.{ns}"
    expected = [
        f"New revision detected! Scaling up {c}",
        f"Starting canary analysis for {c}",
        *[f"Advance {c} canary weight {w}" for w in (10, 20, 30, 40, 50)],
        f"Copying {c} template spec to podinfo-primary.{ns}",
        "Routing all traffic to primary",
        f"Promotion completed! Scaling down {c}",
    ]
    assert [m for m in story if m in expected] == expected, story
    bodies = commit_messages(git_repo.path)
    assert any("- load-test (rollout): pass" in b for b in bodies), "the load tester accepted the hook"

    # -- 6.0.2: 30% errors, halts on the success rate and rolls back after 5 failed checks ----
    # The steps come faster than the metrics' 1m windows: let 6.0.1's canary traffic age out
    # first, or the new release's errors would be averaged with the last one's successes.
    quiet(prometheus, ns)
    seen = len(events(kube, ns))
    set_image(kube, ns, "6.0.2")
    run_until(kube, driver, prometheus, "Failed")
    story = events(kube, ns)[seen:]
    halts = [m for t, m in story if "advancement success rate" in m and t == "Warning"]
    assert len(halts) == 5, story
    assert all(m.startswith(f"Halt {c} advancement success rate ") and m.endswith("% < 99%") for m in halts)
    assert ("Warning", f"Rolling back {c} failed checks threshold reached 5") in story
    assert ("Warning", f"Canary failed! Scaling down {c}") in story
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")

    # -- 6.0.3: slow, halts on request duration -----------------------------------------------
    quiet(prometheus, ns)  # and 6.0.2's errors must not count against 6.0.3
    seen = len(events(kube, ns))
    set_image(kube, ns, "6.0.3")
    run_until(kube, driver, prometheus, "Failed")
    story = events(kube, ns)[seen:]
    slow = [m for t, m in story if "advancement request duration" in m]
    assert len(slow) == 5 and all(m.endswith(" > 500ms") for m in slow), story
    assert not any("success rate" in m for _, m in story)

    # -- the config repo tells each story ------------------------------------------------------
    log = git_log(git_repo.path)
    assert log[0] == "Initial commit"
    subjects = driver.subjects()
    assert subjects[:2] == [f"{c}: initializing, creating podinfo-primary", f"{c}: initialization done"]
    assert [s for s in subjects if "advance canary weight" in s] == [
        f"{c}: advance canary weight {w}" for w in (10, 20, 30, 40, 50, 10, 10)
    ]
    assert f"{c}: promotion completed" in subjects
    assert sum("halt advancement, success rate" in s for s in subjects) == 5
    assert sum("halt advancement, request duration" in s for s in subjects) == 5
    assert subjects.count(f"{c}: rollback, failed checks threshold reached 5") == 2
    ids = step_ids(git_repo.path, f"{ns}/podinfo")
    assert len(ids) == len(set(ids)), "every step is committed exactly once"
    assert canary(kube, ns)["status"]["lastCommit"] == git_log_head(git_repo.path)


def commit_messages(repo: Path) -> list[str]:
    r = pygit2.Repository(str(repo))
    return [c.message for c in r.walk(r.references["refs/heads/main"].target)]


def git_log_head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).references["refs/heads/main"].target)
