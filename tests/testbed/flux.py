"""Flux's source-controller and kustomize-controller as processes against the testbed's API server.

The binaries and CRDs come from ``tests/testbed/build.sh`` (built from the Go
module proxy; the CRDs are the modules' own ``config/crd/bases/``). Both
controllers run with the admin kubeconfig, without leader election, every
address on a free 127.0.0.1 port: metrics, health probes, and
source-controller's artifact storage, which kustomize-controller downloads
from (``--storage-adv-addr`` is what goes into ``status.artifact.url``)::

    flux = Flux(cluster).start()      # installs the CRDs, waits for /readyz
    flux.git_source(ns, "config", url, username="u", password="p")
    flux.kustomization(ns, "apps", source="config", path="./apps")
    flux.reconcile(ns, "config")      # like `flux reconcile source git`
    flux.wait_applied(ns, "apps", revision=commit_id)
    flux.stop()

Nothing polls on an interval here: the GitRepository and Kustomization get a
long interval (10 minutes) so every apply in a test is caused by a commit
plus a ``reconcile.fluxcd.io/requestedAt`` annotation, as a nudge from
gitflagger or the ``flux`` CLI would do.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import pygit2
import requests
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.testbed import crd_install
from tests.testbed.procs import ComponentError, Proc, free_ports, stop_procs

if TYPE_CHECKING:
    from tests.testbed.cluster import Cluster

__all__ = ["FLUX_NAMESPACE", "Flux", "commit_files", "crd_dir", "ready_condition"]

SOURCE = ("source.toolkit.fluxcd.io", "v1", "gitrepositories")
KUSTOMIZE = ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
FLUX_NAMESPACE = "flux-system"
"""The controllers' runtime namespace (RUNTIME_NAMESPACE): where their Events about themselves go."""
CONTROLLERS = ("source-controller", "kustomize-controller")
BUILD = "tests/testbed/build.sh"


def crd_dir(bin_dir: Path) -> Path:
    """Where build.sh copies the Flux CRDs: beside the bin dir."""
    return bin_dir.parent / "flux-crds"


def ready_condition(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``Ready`` condition of a Flux object, if it has one yet."""
    for cond in obj.get("status", {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return dict(cond)
    return None


class Flux:
    """The two Flux controllers of one testbed cluster. Not thread-safe."""

    def __init__(self, cluster: Cluster, log_dir: Path | None = None, *, concurrent: int = 4,
                 start_timeout: float = 120.0) -> None:
        """``concurrent``: each controller's ``--concurrent`` (objects reconciled in parallel)."""
        self.cluster = cluster
        self.bin_dir = cluster.bin_dir
        self.log_dir = log_dir or cluster.logs_dir
        self.storage_path = cluster.state_dir / "flux-storage"
        self.concurrent = concurrent
        self.start_timeout = start_timeout
        self.storage_port = 0
        self._health: dict[str, int] = {}
        self._procs: list[Proc] = []
        self.start_seconds: float | None = None
        self._api: k8s_client.ApiClient | None = None

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> Self:
        began = time.monotonic()
        missing = [c for c in CONTROLLERS if not (self.bin_dir / c).is_file()]
        if missing:
            raise RuntimeError(f"Flux binaries missing in {self.bin_dir}: {missing}; run {BUILD}")
        session = self._admin_session()
        names = crd_install.apply_crd_dirs(session, self.cluster.api_url, [crd_dir(self.bin_dir)])
        if not any(n == "kustomizations.kustomize.toolkit.fluxcd.io" for n in names):
            raise RuntimeError(f"no Kustomization CRD under {crd_dir(self.bin_dir)}; run {BUILD}")
        self._create_namespace(FLUX_NAMESPACE)
        self._wait("Flux CRDs Established",
                   lambda: crd_install.all_established(session, self.cluster.api_url, names))
        self.storage_path.mkdir(parents=True, exist_ok=True)
        storage, s_metrics, s_health, k_metrics, k_health = free_ports(5)
        self.storage_port = storage
        self._health = {"source-controller": s_health, "kustomize-controller": k_health}
        common = ["--enable-leader-election=false", "--log-level=info", "--log-encoding=console",
                  f"--concurrent={self.concurrent}", "--watch-all-namespaces=true"]
        env = {"PATH": "/usr/bin:/bin", "KUBECONFIG": str(self.cluster.kubeconfig),
               "RUNTIME_NAMESPACE": FLUX_NAMESPACE, "HOME": str(self.storage_path)}
        self._procs = [
            Proc("source-controller", [
                str(self.bin_dir / "source-controller"), *common,
                f"--metrics-addr=127.0.0.1:{s_metrics}", f"--health-addr=127.0.0.1:{s_health}",
                f"--storage-addr=127.0.0.1:{storage}", f"--storage-adv-addr=127.0.0.1:{storage}",
                f"--storage-path={self.storage_path}",
            ], self.log_dir / "source-controller.log", env=env),
            Proc("kustomize-controller", [
                str(self.bin_dir / "kustomize-controller"), *common,
                f"--metrics-addr=127.0.0.1:{k_metrics}", f"--health-addr=127.0.0.1:{k_health}",
            ], self.log_dir / "kustomize-controller.log", env=env),
        ]
        try:
            for proc in self._procs:
                proc.start()
            self._wait("Flux controllers /readyz", self._ready)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop both controllers. Idempotent."""
        stop_procs(self._procs)
        self._procs = []
        if self._api is not None:
            self._api.close()  # type: ignore[no-untyped-call]
            self._api = None

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.running() for p in self._procs)

    def log_paths(self) -> dict[str, Path]:
        return {p.name: p.log_path for p in self._procs}

    # ---- objects -----------------------------------------------------------------------------------
    @property
    def api(self) -> k8s_client.ApiClient:
        if self._api is None:
            self._api = self.cluster.kube_client()
        return self._api

    def git_source(self, namespace: str, name: str, url: str, *, username: str, password: str,
                   branch: str = "main", interval: str = "10m") -> None:
        """A GitRepository on ``url`` with a basic-auth Secret ``<name>-auth`` (created or replaced)."""
        secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                  "metadata": {"name": f"{name}-auth", "namespace": namespace},
                  "data": {"username": _b64(username), "password": _b64(password)}}
        self._apply("", "v1", "secrets", namespace, secret)
        self._apply(*SOURCE, namespace, {
            "apiVersion": f"{SOURCE[0]}/{SOURCE[1]}", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"url": url, "interval": interval, "timeout": "30s", "ref": {"branch": branch},
                     "secretRef": {"name": f"{name}-auth"}},
        })

    def kustomization(self, namespace: str, name: str, *, source: str, path: str, prune: bool = True,
                      interval: str = "10m", target_namespace: str | None = None,
                      extra: Mapping[str, Any] | None = None) -> None:
        """A Kustomization applying ``path`` of GitRepository ``source`` (same namespace)."""
        spec: dict[str, Any] = {"interval": interval, "path": path, "prune": prune, "timeout": "60s",
                                "sourceRef": {"kind": "GitRepository", "name": source}, **(extra or {})}
        if target_namespace is not None:
            spec["targetNamespace"] = target_namespace
        self._apply(*KUSTOMIZE, namespace, {
            "apiVersion": f"{KUSTOMIZE[0]}/{KUSTOMIZE[1]}", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec,
        })

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """``kind``: ``GitRepository`` or ``Kustomization``; None when absent."""
        group, version, plural = SOURCE if kind == "GitRepository" else KUSTOMIZE
        try:
            custom: Any = k8s_client.CustomObjectsApi(self.api)
            obj: dict[str, Any] = custom.get_namespaced_custom_object(group, version, namespace, plural, name)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    def reconcile(self, namespace: str, name: str, kind: str = "GitRepository") -> str:
        """Ask Flux to reconcile now (the ``requestedAt`` annotation); returns the token written."""
        group, version, plural = SOURCE if kind == "GitRepository" else KUSTOMIZE
        token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        k8s_client.CustomObjectsApi(self.api).patch_namespaced_custom_object(
            group, version, namespace, plural, name, {"metadata": {"annotations": {REQUESTED_AT: token}}})
        return token

    def wait_applied(self, namespace: str, name: str, *, revision: str,
                     timeout: float = 120.0) -> dict[str, Any]:
        """Wait until Kustomization ``name`` is Ready with ``lastAppliedRevision`` ending in ``revision``."""
        def done() -> dict[str, Any] | None:
            obj = self.get("Kustomization", namespace, name)
            cond = ready_condition(obj or {})
            applied = (obj or {}).get("status", {}).get("lastAppliedRevision", "")
            ok = cond is not None and cond.get("status") == "True" and applied.endswith(revision)
            return obj if ok else None
        found: dict[str, Any] = self.wait_for(f"Kustomization {namespace}/{name} applied {revision[:12]}",
                                              done, timeout)
        return found

    def wait_for(self, what: str, probe: Any, timeout: float = 120.0) -> Any:
        """Poll ``probe()`` until it returns something truthy; fail naming ``what`` and Flux's log tails."""
        deadline = time.monotonic() + timeout
        while True:
            for proc in self._procs:
                proc.check()
            found = probe()
            if found:
                return found
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.name} ---\n{p.log_tail(10)}" for p in self._procs)
                raise TimeoutError(f"flux: timed out after {timeout:.0f}s waiting for {what}\n{tails}")
            time.sleep(0.2)

    # ---- internals ---------------------------------------------------------------------------------
    def _apply(self, group: str, version: str, plural: str, namespace: str, obj: dict[str, Any]) -> None:
        """Create, or replace on conflict (tests re-point sources)."""
        custom: Any = k8s_client.CustomObjectsApi(self.api)
        core: Any = k8s_client.CoreV1Api(self.api)
        name = obj["metadata"]["name"]
        try:
            if group:
                custom.create_namespaced_custom_object(group, version, namespace, plural, obj)
            else:
                core.create_namespaced_secret(namespace, obj)
        except ApiException as exc:
            if exc.status != 409:
                raise
            if group:
                current = custom.get_namespaced_custom_object(group, version, namespace, plural, name)
                obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                custom.replace_namespaced_custom_object(group, version, namespace, plural, name, obj)
            else:
                core.replace_namespaced_secret(name, namespace, obj)

    def _admin_session(self) -> requests.Session:
        pki = self.cluster.pki
        if pki is None:
            raise RuntimeError("the cluster is not started")
        s = requests.Session()
        s.trust_env = False
        s.cert = (str(pki.admin.cert), str(pki.admin.key))
        s.verify = str(pki.ca.cert)
        return s

    def _create_namespace(self, name: str) -> None:
        try:
            k8s_client.CoreV1Api(self.api).create_namespace(
                k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=name)))
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _ready(self) -> bool:
        for port in self._health.values():
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code != 200:
                    return False
            except requests.RequestException:
                return False
        return True

    def _wait(self, what: str, ready: Any) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not ready():
            for proc in self._procs:
                proc.check()
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.name} ({p.log_path}) ---\n{p.log_tail(10)}" for p in self._procs)
                raise ComponentError("flux", f"timed out after {self.start_timeout:.0f}s waiting for {what}",
                                     None, tails)
            time.sleep(0.25)


def commit_files(repo: Path, changes: Mapping[str, str | None], message: str, branch: str = "main") -> str:
    """Commit ``changes`` (path -> content, None deletes) on ``branch`` of bare repo ``repo``; the new id.

    Written straight into the server's repository (as a push would leave it), so a test's
    release is one call; Flux still fetches it over HTTP with credentials.
    """
    git = pygit2.Repository(str(repo))
    ref = f"refs/heads/{branch}"
    parent = git.references[ref].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    for path, content in changes.items():
        if content is None:
            index.remove(path)
        else:
            index.add(pygit2.IndexEntry(path, git.create_blob(content.encode()), pygit2.enums.FileMode.BLOB))
    sig = pygit2.Signature("testbed", "testbed@example.invalid")
    return str(git.create_commit(ref, sig, sig, message, index.write_tree(git), [parent.id]))


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
