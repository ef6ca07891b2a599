"""git-only mode with a real Flux applying every step (tests/integration/flux_support.py sets it up).

Flux's own source-controller and kustomize-controller (the session's ``flux``
fixture) fetch the testbed git server over HTTP with credentials; Prometheus
measures the mesh simulator's traffic; gitflagger steps as deploy/'s
ServiceAccount and only commits, pushes and nudges Flux. In each test every
``Apply`` in the live VirtualService's and primary Deployment's managedFields
is kustomize-controller's, and every weight the live route had is a commit.
"""

# ruff: noqa: F811 -- pytest fixtures are imported and named as parameters
from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder, RepoSettings
from gitflagger.adapters.git.tree import read_directory
from gitflagger.adapters.kube import KubeCluster
from gitflagger.model.canary import V1BETA1
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    Driver,
    app_namespace,
    canary,
    canary_requests,
    canary_traffic,
    events,
    git_log,
    kube,
    phase,
    sa_kubeconfig,
    settled,
    step_ids,
    wait_for,
)
from tests.integration.flux_support import PREFIX, SECRET, GitOpsWorld, build_world
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.integration.test_durability import Runs, killed
from tests.integration.test_walkthrough import load_tester, quiet  # noqa: F401 (fixtures)
from tests.testbed.flux import Flux, commit_files, ready_condition
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus

pytestmark = [pytest.mark.testbed, pytest.mark.xdist_group("flux-gitops")]
"""One xdist worker runs them all: they share its session's Flux controllers instead of each
worker starting its own."""


def make_world(request: pytest.FixtureRequest, **app: Any) -> Iterator[GitOpsWorld]:
    get = request.getfixturevalue
    kube_api, ns_controller = get("kube_api"), get("namespace")
    git_server: GitServer = get("git_server")
    repo: RepoUrls = get("git_repo")
    tmp_path: Path = get("tmp_path")
    prometheus: Prometheus = get("prometheus")
    hook = get("load_tester").url + "/"
    with app_namespace(kube_api, ns_controller) as ns:
        password = tmp_path / "git-password"
        password.write_text(git_server.password + "\n")
        remote = RemoteConfig(repo.http, username=git_server.username, password_file=password,
                              allow_insecure_http=True)
        recorder = RepoSettings(remote, cache_root=tmp_path / "cache", prefix=PREFIX).recorder()
        assert isinstance(recorder, RemoteRecorder)
        view = KubeCluster.connect(str(get("sa_kubeconfig")))
        try:
            driver = Driver.build(view, ns, recorder, repo.path, prometheus.url)
            yield from build_world(ns, get("flux"), git_server, repo, view, get("kube"), kube_api, driver,
                                   hook, **app)
        finally:
            view.close()


@pytest.fixture
def gitops(request: pytest.FixtureRequest, flux: Flux, meshsim: MeshSim) -> Iterator[GitOpsWorld]:
    yield from make_world(request)


@pytest.fixture
def gitops_fast(request: pytest.FixtureRequest, flux: Flux, meshsim: MeshSim) -> Iterator[GitOpsWorld]:
    """The Canary steps every 5 s, for a controller process of its own (the kill and restart)."""
    yield from make_world(request, interval="5s")


@pytest.fixture
def gitops_revert(request: pytest.FixtureRequest, flux: Flux) -> Iterator[GitOpsWorld]:
    """A 5 s Canary with ``revertOnDeletion``, for a controller process (the finalizer runs in its loop)."""
    yield from make_world(request, interval="5s", revertOnDeletion=True)


@pytest.fixture
def gitops_prune(request: pytest.FixtureRequest, flux: Flux) -> Iterator[GitOpsWorld]:
    """A 5 s Canary without ``revertOnDeletion``, for a controller process."""
    yield from make_world(request, interval="5s")


@pytest.fixture
def gitops_replicas(request: pytest.FixtureRequest, flux: Flux) -> Iterator[GitOpsWorld]:
    yield from make_world(request, replicas=1)


def run_until(world: GitOpsWorld, prometheus: Prometheus, want: str, limit: int = 30) -> None:
    """Step until ``want``, each step once Flux applied the last and Prometheus saw fresh traffic."""
    kube, ns = world.admin, world.ns
    baseline = 0.0
    for _ in range(limit):
        wait_for("the deployments to roll out", lambda: settled(kube, ns))
        status = canary(kube, ns).get("status") or {}
        if status.get("phase") == "Progressing" and int(status.get("canaryWeight", 0)) > 0:
            wait_for("fresh canary traffic", lambda since=baseline: (canary_requests(prometheus, ns) or 0)
                     >= since + 60 and canary_traffic(prometheus, ns) is not None)
        baseline = canary_requests(prometheus, ns) or 0
        world.step()
        if phase(kube, ns) == want:
            return
    pytest.fail(f"never reached {want}")


def flux_idle(world: GitOpsWorld) -> None:
    """Wait until Flux has handled gitflagger's last nudge of both objects (nothing left in flight)."""
    def handled(kind: str, name: str) -> bool:
        obj = world.flux.get(kind, world.ns, name) or {}
        asked = (obj.get("metadata", {}).get("annotations") or {}).get("reconcile.fluxcd.io/requestedAt")
        return asked is None or obj.get("status", {}).get("lastHandledReconcileAt") == asked

    def applied_latest() -> bool:  # a new artifact starts a Kustomization run of its own
        source = world.flux.get("GitRepository", world.ns, "config") or {}
        kustomization = world.flux.get("Kustomization", world.ns, "canaries") or {}
        revision = (source.get("status", {}).get("artifact") or {}).get("revision")
        ready = ready_condition(kustomization) or {}
        return bool(revision) and kustomization.get("status", {}).get("lastAppliedRevision") == revision \
            and ready.get("status") == "True"

    wait_for("Flux to handle the last nudge and apply the latest revision",
             lambda: handled("GitRepository", "config") and handled("Kustomization", "canaries")
             and applied_latest(), 60, 0.2)


def warnings(kube: KubeCluster, ns: str, text: str) -> list[str]:
    return [m for t, m in events(kube, ns) if t == "Warning" and text in m]


def test_the_walkthrough_in_git_only_mode_with_flux_applying_every_step(
    gitops: GitOpsWorld, prometheus: Prometheus, kube: KubeCluster
) -> None:
    started = time.monotonic()
    ns, c = gitops.ns, f"podinfo.{gitops.ns}"
    run_until(gitops, prometheus, "Initialized")
    # Secrets never enter git: gitflagger applies the primary's copy itself, Flux the rest.
    copy = kube.get("v1", "Secret", ns, f"{SECRET}-primary")
    assert copy is not None and gitops.apply_managers("Secret", f"{SECRET}-primary") <= {"gitflagger"}
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == f"{SECRET}-primary"

    gitops.release("6.0.1")
    run_until(gitops, prometheus, "Succeeded")
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")

    quiet(prometheus, ns)
    gitops.release("6.0.2")
    run_until(gitops, prometheus, "Failed")
    story = [m for _, m in events(kube, ns)]
    assert f"Rolling back {c} failed checks threshold reached 5" in story

    # The Canary: Flux applies its spec, gitflagger writes its status; a Flux re-apply keeps the status.
    token = gitops.flux.reconcile(ns, "apps", "Kustomization")
    def handled() -> bool:
        applied = gitops.flux.get("Kustomization", ns, "apps") or {}
        return bool(applied.get("status", {}).get("lastHandledReconcileAt") == token)

    wait_for("Flux to re-apply the app path", handled)
    assert phase(kube, ns) == "Failed"
    managers = {(e.get("manager"), e.get("operation"), e.get("subresource", ""))
                for e in kube.managed_fields("flagger.app/v1beta1", "Canary", ns, "podinfo")}
    assert ("kustomize-controller", "Apply", "") in managers
    assert all(m == "gitflagger" for m, _, sub in managers if sub == "status")
    gitops.assert_flux_owns_everything()
    latencies = sorted(gitops.latencies())
    assert len(latencies) == len(gitops.pushed), "a pushed weight never reached the live route"
    print(f"\nwalkthrough with Flux: {time.monotonic() - started:.0f}s; push to live route over "
          f"{len(latencies)} weight changes: p50 {latencies[len(latencies) // 2]:.2f}s, "
          f"max {latencies[-1]:.2f}s")


def test_replicas_in_git_drift_and_a_failed_kustomization_are_said_on_the_canary(
    gitops_replicas: GitOpsWorld, kube: KubeCluster
) -> None:
    world, ns = gitops_replicas, gitops_replicas.ns
    for _ in range(10):
        world.step()
        if phase(kube, ns) == "Initialized":
            break
    assert phase(kube, ns) == "Initialized"
    (said,) = warnings(kube, ns, "sets spec.replicas")
    assert said.startswith("deployment podinfo: its manifest in git sets spec.replicas") and "remove" in said

    # Drift: a `kubectl edit` of the route, once Flux is idle; Flux puts the committed weights back.
    flux_idle(world)
    vs = kube.resources.resolve("networking.istio.io/v1beta1", "VirtualService")
    live = kube.get("networking.istio.io/v1beta1", "VirtualService", ns, "podinfo")
    http = live["spec"]["http"]
    http[0]["route"][0]["weight"], http[0]["route"][1]["weight"] = 50, 50
    kube.transport.request("PATCH", vs.path(ns, "podinfo"), body={"spec": {"http": http}},
                           query=[("fieldManager", "kubectl-edit")],
                           content_type="application/merge-patch+json", what="kubectl edit")
    waiting = world.driver.step()
    assert "live weights primary=50 canary=50" in waiting.skipped
    (drift,) = warnings(kube, ns, "Drift detected")
    assert "changed by field manager kubectl-edit" in drift
    wait_for("Flux to put the route back", lambda: world.route() == (100, 0), timeout=60)

    # A failing Flux apply: a health check that cannot pass holds the steps, with Flux's message.
    flux_idle(world)
    before = len(world.remote_weights()), world.driver.subjects()
    world.flux.kustomization(ns, "canaries", source="config", path=f"./{PREFIX}/{ns}", extra={
        "healthChecks": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "missing", "namespace": ns}],
        "timeout": "5s"})
    wait_for("the Kustomization to fail its health check", lambda: (ready_condition(
        world.flux.get("Kustomization", ns, "canaries") or {}) or {}).get("status") == "False", timeout=90)
    held = [world.driver.step() for _ in range(3)]
    assert not any(o.stepped for o in held), (
        [o.skipped for o in held], (world.flux.get("Kustomization", ns, "canaries") or {}).get("status"),
        (world.flux.get("GitRepository", ns, "config") or {}).get("status"))
    assert f"Flux Kustomization {ns}/canaries failed (HealthCheckFailed)" in held[0].skipped
    (failed,) = warnings(kube, ns, "Flux Kustomization")
    assert "missing" in failed
    assert world.driver.subjects() == before[1]
    world.assert_flux_owns_everything(drifted=((50, 50),))


def test_a_controller_killed_after_a_push_resumes_and_flux_applies_each_step_once(
    gitops_fast: GitOpsWorld, kube: KubeCluster, sa_kubeconfig: Path, git_server: GitServer,
    prometheus: Prometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    world, ns = gitops_fast, gitops_fast.ns
    armed = tmp_path / "kill-armed"
    monkeypatch.setenv("GITFLAGGER_KILL_AT", "pushed")  # pushed, Flux not nudged, status not written
    monkeypatch.setenv("GITFLAGGER_KILL_ARMED", str(armed))
    runs = Runs(sa_kubeconfig, git_server, world.repo, prometheus, ns, tmp_path)
    try:
        first = runs.start("first", "--apply-mode", "git-only")
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 180)
        world.release("6.0.1", interval="5s")
        wait_for("the canary at weight 10", lambda: world.route() == (90, 10), 180)
        armed.touch()  # the next step dies right after its push
        wait_for("the kill after the push", lambda: killed(first), 120, 0.2)
        assert (80, 20) in world.remote_weights() and (80, 20) not in world.routes.seen  # pushed, not applied
        runs.start("second", "--apply-mode", "git-only")  # a fresh cache: it clones the remote
        wait_for("two more steps after the restart", lambda: (world.route() or (0, 0))[1] >= 30, 180)
        runs.stop_all()
    finally:
        runs.stop_all()
    assert world.routes.seen.index((80, 20)) < world.routes.seen.index((70, 30))
    ids = step_ids(world.repo.path, f"{ns}/podinfo")
    assert len(ids) == len(set(ids)), "a step was committed twice"
    assert "duplicate-step" in (tmp_path / "second.log").read_text()  # found on the remote, not redone
    world.assert_flux_owns_everything()


def test_a_canary_removed_from_git_is_reverted_and_flux_prunes_what_it_generated(
    gitops_revert: GitOpsWorld, kube: KubeCluster, sa_kubeconfig: Path, git_server: GitServer,
    prometheus: Prometheus, tmp_path: Path,
) -> None:
    world, ns = gitops_revert, gitops_revert.ns
    runs = Runs(sa_kubeconfig, git_server, world.repo, prometheus, ns, tmp_path)
    try:
        runs.start("only", "--apply-mode", "git-only")
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 180)
        remove_from_git(world, kube)
    finally:
        runs.stop_all()

    def pruned() -> bool:
        inventory = ((world.flux.get("Kustomization", ns, "canaries") or {}).get("status") or {}).get(
            "inventory") or {}
        ids = [e["id"] for e in inventory.get("entries") or ()]
        return bool(ids) and not any("podinfo-primary" in i or "podinfo-canary" in i for i in ids)

    wait_for("Flux to prune the primary and the canary objects", pruned, 120)
    assert kube.get("apps/v1", "Deployment", ns, "podinfo-primary") is None
    apex = kube.get("v1", "Service", ns, "podinfo")
    assert apex is not None and not apex["metadata"].get("ownerReferences")
    assert world.apply_managers("Service", "podinfo") == {"kustomize-controller"}
    assert world.apply_managers("VirtualService", "podinfo") == {"kustomize-controller"}
    target = kube.get("apps/v1", "Deployment", ns, "podinfo")
    assert target is not None and target["spec"]["replicas"] >= 1  # the workload is the target's again
    subjects = git_log(world.repo.path)
    assert any(s.endswith("terminated, all traffic to podinfo") for s in subjects), subjects


def test_a_canary_removed_from_git_without_revert_has_its_directory_removed_and_flux_prunes_it(
    gitops_prune: GitOpsWorld, kube: KubeCluster, sa_kubeconfig: Path, git_server: GitServer,
    prometheus: Prometheus, tmp_path: Path,
) -> None:
    world, ns = gitops_prune, gitops_prune.ns
    directory = (PREFIX, ns, "podinfo")
    generated = [("apps/v1", "Deployment", "podinfo-primary"), ("v1", "Service", "podinfo"),
                 ("v1", "Service", "podinfo-primary"), ("v1", "Service", "podinfo-canary"),
                 ("networking.istio.io/v1beta1", "VirtualService", "podinfo")]
    runs = Runs(sa_kubeconfig, git_server, world.repo, prometheus, ns, tmp_path)
    try:
        runs.start("only", "--apply-mode", "git-only")
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 180)
        assert all(kube.get(v, k, ns, n) is not None for v, k, n in generated)
        before = remote_head(world.repo.path).id
        remove_from_git(world, kube)
    finally:
        runs.stop_all()
    def pruned() -> bool:  # Flux applied the removal (its path is kept: Ready) and pruned its inventory
        status = (world.flux.get("Kustomization", ns, "canaries") or {}).get("status") or {}
        return not (status.get("inventory") or {}).get("entries") and any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())

    wait_for("Flux to prune what the Canary generated", pruned, 120)
    wait_for("the generated objects to be gone",
             lambda: all(kube.get(v, k, ns, n) is None for v, k, n in generated), 60)
    head = remote_head(world.repo.path)
    assert read_directory(head.tree, directory) is None
    removed = [c for c in walk_since(world.repo.path, before)
               if read_directory(c.parents[0].tree, directory) is not None
               and read_directory(c.tree, directory) is None]
    assert len(removed) == 1 and "remove its directory" in removed[0].message, [c.message for c in removed]
    world.flux.reconcile(ns, "config")
    world.flux.reconcile(ns, "canaries", "Kustomization")
    flux_idle(world)
    assert all(kube.get(v, k, ns, n) is None for v, k, n in generated), "Flux applied them again"


def remove_from_git(world: GitOpsWorld, kube: KubeCluster) -> None:
    """Remove the Canary from the app path, have Flux apply that, and wait until its finalizer let it go."""
    ns = world.ns
    commit_files(world.repo.path, {f"apps/{ns}/canary.yaml": None}, "remove the podinfo Canary")
    world.flux.reconcile(ns, "config")
    world.flux.reconcile(ns, "apps", "Kustomization")
    wait_for("the Canary to be finalized and gone",
             lambda: kube.get(V1BETA1, "Canary", ns, "podinfo") is None, 240)


def remote_head(repo: Path) -> pygit2.Commit:
    return pygit2.Repository(str(repo)).references["refs/heads/main"].peel(pygit2.Commit)


def walk_since(repo: Path, since: pygit2.Oid) -> list[pygit2.Commit]:
    """The remote's commits after ``since`` (first parents), newest first."""
    out = []
    for commit in pygit2.Repository(str(repo)).walk(remote_head(repo).id):
        if commit.id == since:
            return out
        out.append(commit)
    raise AssertionError(f"{since} is not on the remote's main")
