"""A git-only world with a real Flux applying it, for tests/integration/test_flux_gitops.py.

One config repo on the testbed git server (HTTP with credentials), read by a
Flux GitRepository in the test's own app namespace, and two Kustomizations
(``prune: true``): ``apps`` applies ``apps/<ns>/`` (podinfo's Deployment and
HPA and the Canary: a release is a commit there), ``canaries`` applies
``local/<ns>/``, the directory gitflagger writes (its ``canary.yaml`` left out
by the GitRepository's ``ignore``: the Canary comes from the app path). Both
have Flux's default 10-minute interval, so every apply in a test follows a
nudge: gitflagger's after each push, the test's after a release.

gitflagger steps with the shipped RBAC (deploy/'s ServiceAccount), in
``--apply-mode git-only`` and discovers the ``canaries`` Kustomization itself.
A watch on the VirtualService records every weight the live route ever had.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import watch as k8s_watch

from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.flux import Flux as FluxNudge
from gitflagger.engine.reconcile import ApplyMode, StepOutcome
from gitflagger.render.routers import router_for
from gitflagger.render.yaml import dump_canonical
from tests.integration.controller_support import Driver, podinfo
from tests.testbed.flux import Flux, commit_files
from tests.testbed.gitserver import GitServer, RepoUrls

PREFIX = "local"
IMAGE = "ghcr.io/stefanprodan/podinfo"
SECRET = "podinfo-token"


def app_objects(
    ns: str, hook_url: str, *, tag: str = "6.0.0", replicas: int | None = None, interval: str | None = None,
    **canary_spec: Any,
) -> list[dict[str, Any]]:
    """The tutorial's Deployment (mounting Secret ``podinfo-token``), HPA and Canary, as kept in git."""
    out = []
    for doc in podinfo(ns, hook_url, interval=interval, **canary_spec):
        doc = copy.deepcopy(doc)
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            pod["containers"][0]["image"] = f"{IMAGE}:{tag}"
            pod["volumes"] = [{"name": "token", "secret": {"secretName": SECRET}}]
            pod["containers"][0]["volumeMounts"] = [{"name": "token", "mountPath": "/etc/token"}]
            if replicas is not None:
                doc["spec"]["replicas"] = replicas
        out.append(doc)
    return out


def app_files(ns: str, hook_url: str, **kw: Any) -> dict[str, str | None]:
    return {f"apps/{ns}/{d['kind'].lower()}.yaml": dump_canonical(d) for d in app_objects(ns, hook_url, **kw)}


class RouteWatch:
    """Every ``(primary, canary)`` weight pair the live VirtualService ever had, from a watch."""

    def __init__(self, kube_api: Any, ns: str, name: str = "podinfo") -> None:
        self.seen: list[tuple[int, int]] = []
        self.times: list[float] = []
        """``time.monotonic()`` when each of :attr:`seen` was first seen."""
        self._api, self._ns, self._name = kube_api, ns, name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="route-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        custom = k8s_client.CustomObjectsApi(self._api)
        router = router_for("istio")
        while not self._stop.is_set():
            w = k8s_watch.Watch()
            with contextlib.suppress(Exception):  # a broken watch is simply started again
                for event in w.stream(custom.list_namespaced_custom_object, "networking.istio.io", "v1beta1",
                                      self._ns, "virtualservices", timeout_seconds=5):
                    obj = event["object"]
                    if obj.get("metadata", {}).get("name") != self._name:
                        continue
                    found = router.weights(obj)
                    if found is not None and (not self.seen or self.seen[-1] != tuple(found)):
                        self.seen.append((int(found[0]), int(found[1])))
                        self.times.append(time.monotonic())
                    if self._stop.is_set():
                        break
            w.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class GitOpsWorld:
    ns: str
    repo: RepoUrls
    flux: Flux
    driver: Driver
    admin: KubeCluster
    routes: RouteWatch
    hook_url: str
    pushed: list[tuple[float, tuple[int, int]]] = field(default_factory=list)
    """When each step that changed the weights began (then committed, pushed, nudged Flux), and them."""

    def release(self, tag: str, **kw: Any) -> str:
        """Commit a new image in the app path and have Flux apply it (as a user's CI would)."""
        files = app_files(self.ns, self.hook_url, tag=tag, **kw)
        files = {k: v for k, v in files.items() if k.endswith("deployment.yaml")}
        commit = commit_files(self.repo.path, files, f"release podinfo {tag}")
        self.flux.reconcile(self.ns, "config")
        self.flux.reconcile(self.ns, "apps", "Kustomization")

        def released() -> bool:  # not lastAppliedRevision: gitflagger may have pushed on top of it
            target = self.admin.get("apps/v1", "Deployment", self.ns, "podinfo")
            image = target["spec"]["template"]["spec"]["containers"][0]["image"] if target else ""
            return bool(image.endswith(f":{tag}"))

        self.flux.wait_for(f"Flux to apply release {tag}", released)
        return commit

    def route(self) -> tuple[int, int] | None:
        """The live route's weights as the watch last saw them."""
        return self.routes.seen[-1] if self.routes.seen else None

    def step(self, timeout: float = 90.0) -> StepOutcome:
        """One step, once Flux has applied the last one (gitflagger says it is waiting until then)."""
        deadline = time.monotonic() + timeout
        while True:
            began = time.monotonic()  # the step records, pushes and nudges: latency counts from here
            outcome = self.driver.step()
            if "waiting for the committed state" not in outcome.skipped:
                if outcome.decision is not None and outcome.commit:
                    routes = (outcome.decision.routes.primary, outcome.decision.routes.canary)
                    if routes != (self.routes.seen or [None])[-1]:
                        self.pushed.append((began, routes))
                return outcome
            assert time.monotonic() < deadline, f"Flux never applied the last step: {outcome.skipped}"
            time.sleep(0.2)

    def latencies(self) -> list[float]:
        """Seconds from each weight change's push to the live route first showing it (the watch)."""
        out = []
        for at, want in self.pushed:
            seen = [t for t, w in zip(self.routes.times, self.routes.seen, strict=True)
                    if w == want and t >= at]
            if seen:
                out.append(seen[0] - at)
        return out

    def remote_weights(self) -> set[tuple[int, int]]:
        """The ``(primary, canary)`` weights of every step commit of the Canary on the remote."""
        history = read_history(self.repo.path, f"{self.ns}/podinfo", prefix=PREFIX)
        return {(h.trailers.primary_weight, h.trailers.canary_weight) for h in history}

    def apply_managers(self, kind: str, name: str) -> set[str]:
        api_version = {"Deployment": "apps/v1", "Secret": "v1", "Service": "v1"}.get(
            kind, "networking.istio.io/v1beta1")
        entries = self.admin.managed_fields(api_version, kind, self.ns, name)
        return {str(e.get("manager")) for e in entries if e.get("operation") == "Apply"}

    def assert_flux_owns_everything(self, drifted: tuple[tuple[int, int], ...] = ()) -> None:
        """Every Apply on the route and the primary is Flux's; every live weight is a commit
        (but the ``drifted`` ones a test wrote itself)."""
        assert self.apply_managers("VirtualService", "podinfo") == {"kustomize-controller"}
        assert self.apply_managers("Deployment", "podinfo-primary") == {"kustomize-controller"}
        self.routes.stop()
        assert self.routes.seen, "the route watch saw nothing"
        missing = [w for w in self.routes.seen if w not in self.remote_weights() and w not in drifted]
        assert not missing, f"live weights never committed: {missing} (seen {self.routes.seen})"


def build_world(
    ns: str, flux: Flux, git_server: GitServer, repo: RepoUrls, controller_view: KubeCluster,
    admin: KubeCluster, kube_api: Any, driver: Driver, hook_url: str, **app: Any,
) -> Iterator[GitOpsWorld]:
    """Seed the repo, point Flux at it, hand gitflagger to the test; stop the watch afterwards."""
    core = k8s_client.CoreV1Api(kube_api)
    core.create_namespaced_secret(ns, k8s_client.V1Secret(
        metadata=k8s_client.V1ObjectMeta(name=SECRET), string_data={"token": "s3cr3t-in-cluster-only"}))
    seed = commit_files(repo.path, app_files(ns, hook_url, **app), "podinfo 6.0.0")
    flux.git_source(ns, "config", repo.http, username=git_server.username, password=git_server.password)
    k8s_client.CustomObjectsApi(kube_api).patch_namespaced_custom_object(
        "source.toolkit.fluxcd.io", "v1", ns, "gitrepositories", "config",
        {"spec": {"ignore": f"/{PREFIX}/*/*/canary.yaml\n"}})
    flux.kustomization(ns, "apps", source="config", path=f"./apps/{ns}")
    flux.kustomization(ns, "canaries", source="config", path=f"./{PREFIX}/{ns}")
    flux.wait_applied(ns, "apps", revision=seed)
    driver.ctx = dataclasses.replace(driver.ctx, apply_mode=ApplyMode.GIT_ONLY,
                                     flux=FluxNudge(controller_view, PREFIX))
    routes = RouteWatch(kube_api, ns)
    try:
        yield GitOpsWorld(ns, repo, flux, driver, admin, routes, hook_url)
    finally:
        routes.stop()
