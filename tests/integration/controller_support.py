"""The podinfo walkthrough on the testbed: objects, pacing helpers and a controller to drive.

Shared by ``test_walkthrough.py`` and the ``test_controller_*`` modules; no
tests of its own. Everything is real: the API server, the deployment
controller and kwok roll the Deployments, the mesh simulator turns the live
VirtualService weights into Istio metrics, Prometheus scrapes them, and the
config repo is the git server's own repository.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pygit2
import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import GitRecorder, RemoteRecorder, read_history
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.reconcile import CanaryMemory, Context, StepOutcome, reconcile_one
from gitflagger.engine.telemetry import Telemetry
from gitflagger.model.canary import V1BETA1
from tests.integration.test_deploy_rbac import Installed
from tests.integration.test_kube_support import create
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.deploy.deploy_files import SERVICE_ACCOUNT
from tests.unit.deploy.kube_http import KubeHttp

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/stefanprodan/podinfo"
SUCCESS_RATE = (
    'sum(rate(istio_requests_total{{reporter="destination",destination_workload_namespace="{ns}",'
    'destination_workload="podinfo"}}[1m]))'
)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0, every: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def podinfo(
    namespace: str, hook_url: str, *, interval: str | None = None, **spec: Any
) -> list[dict[str, Any]]:
    """The tutorial's Deployment, HPA and v1alpha3 Canary in ``namespace``; the load test at ``hook_url``."""
    names = ("deployment.yaml", "hpa.yaml", "canary.yaml")
    docs = load_documents([ROOT / "fixtures" / "podinfo" / n for n in names])
    out = []
    for doc in docs:
        doc = copy.deepcopy(doc)
        doc["metadata"]["namespace"] = namespace
        if doc["kind"] == "Canary":
            analysis = doc["spec"]["canaryAnalysis"]
            for hook in analysis["webhooks"]:
                hook["url"] = hook_url
            if interval:
                analysis["interval"] = interval
            doc["spec"].update(spec)
        out.append(doc)
    return out


def set_image(kube: KubeCluster, namespace: str, tag: str) -> None:
    """``kubectl set image deployment/podinfo podinfod=…:tag``."""
    resource = kube.resources.resolve("apps/v1", "Deployment")
    container = {"name": "podinfod", "image": f"{IMAGE}:{tag}"}
    patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
    kube.transport.request(
        "PATCH", resource.path(namespace) + "/podinfo", body=patch,
        content_type="application/strategic-merge-patch+json", what="set image",
    )


def canary(kube: KubeCluster, namespace: str, name: str = "podinfo") -> dict[str, Any]:
    obj = kube.get(V1BETA1, "Canary", namespace, name)
    assert obj is not None, f"Canary {namespace}/{name} is gone"
    return obj


def phase(kube: KubeCluster, namespace: str) -> str:
    return str((canary(kube, namespace).get("status") or {}).get("phase", ""))


def settled(kube: KubeCluster, namespace: str) -> bool:
    """Every Deployment of the namespace has been rolled out as its spec says."""
    for d in kube.list_objects("apps/v1", "Deployment", namespace):
        status, spec = d.get("status") or {}, d.get("spec") or {}
        replicas = spec.get("replicas", 1)
        if status.get("observedGeneration", 0) < d["metadata"]["generation"]:
            return False
        if status.get("updatedReplicas", 0) < replicas or status.get("availableReplicas", 0) < replicas:
            return False
        if status.get("replicas", 0) > replicas:
            return False
    return True


def canary_traffic(prometheus: Prometheus, namespace: str) -> float | None:
    """Requests/s reaching the canary workload over the last minute (None: none at all)."""
    return prometheus.query_value(SUCCESS_RATE.format(ns=namespace))


def canary_requests(prometheus: Prometheus, namespace: str) -> float | None:
    """Requests the canary workload has served so far, as Prometheus last scraped them."""
    return prometheus.query_value(
        f'sum(istio_requests_total{{destination_workload_namespace="{namespace}",'
        'destination_workload="podinfo"})'
    )


def events(kube: KubeCluster, namespace: str) -> list[tuple[str, str]]:
    """``(type, message)`` of the Canary's Events, oldest first."""
    items = kube.list_objects("v1", "Event", namespace)
    mine = [e for e in items if (e.get("involvedObject") or {}).get("kind") == "Canary"]
    mine.sort(key=lambda e: (e.get("firstTimestamp") or e.get("eventTime") or "", e["metadata"]["name"]))
    return [(str(e.get("type")), str(e.get("message"))) for e in mine]


@dataclass
class Driver:
    """The controller's step function, driven by the test: one reconcile per call, on the real cluster."""

    kube: KubeCluster
    ctx: Context
    namespace: str
    repo: Path
    memory: CanaryMemory = field(default_factory=CanaryMemory)
    """What the controller remembers between steps (drift is measured against the last one)."""

    @classmethod
    def build(
        cls, kube: KubeCluster, namespace: str, recorder: GitRecorder | RemoteRecorder, repo: Path,
        metrics_server: str,
    ) -> Driver:
        """``kube`` is the controller's view of the cluster; ``repo`` the repository to read back."""
        intents = IntentStore(recorder.repo)
        ctx = Context(kube, recorder, metrics_server, telemetry=Telemetry(), intents=intents)
        return cls(kube, ctx, namespace, repo)

    def step(self) -> StepOutcome:
        outcome = reconcile_one(self.ctx, canary(self.kube, self.namespace), self.memory)
        self.ctx.recorder.flush()
        assert not outcome.error, outcome.error
        return outcome

    def subjects(self) -> list[str]:
        return [h.subject for h in read_history(self.repo, f"{self.namespace}/podinfo")][::-1]


def step_ids(repo: Path, ref: str) -> list[str]:
    return [h.trailers.step_id for h in read_history(repo, ref)][::-1]


def git_log(repo: Path) -> list[str]:
    r = pygit2.Repository(str(repo))
    head = r.references["refs/heads/main"].peel(pygit2.Commit)
    return [c.message.split("\n", 1)[0] for c in r.walk(head.id)][::-1]


class ControllerProcess:
    """``gitflagger run`` as a separate process, the way it runs in a Pod."""

    def __init__(self, kubeconfig: Path, repo: Path | str, metrics_server: str, namespace: str, log: Path,
                 *extra: str) -> None:
        self.args = [
            str(Path(sys.executable).parent / "gitflagger"), "run", "--kubeconfig", str(kubeconfig),
            "--repo", str(repo), "--metrics-server", metrics_server, "--namespace", namespace,
            "--metrics-addr", "", *extra,
        ]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ControllerProcess:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                env={**os.environ, "GITFLAGGER_DEBUG": "1"},
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to release anything, like a node dying."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode


def service_account_kubeconfig(cluster: Cluster, admin: KubeHttp, installed: Installed, path: Path) -> Path:
    """A kubeconfig holding a real token of deploy/'s ServiceAccount: the controller runs with its RBAC."""
    ns = installed.namespace
    token = admin.ok(
        "POST",
        f"/api/v1/namespaces/{ns}/serviceaccounts/{SERVICE_ACCOUNT}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": 3600}},
    )["status"]["token"]
    assert cluster.pki is not None
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: testbed\n  cluster:\n    server: {cluster.api_url}\n"
        f"    certificate-authority: {cluster.pki.ca.cert}\n"
        f"users:\n- name: gitflagger\n  user:\n    token: {token}\n"
        "contexts:\n- name: gitflagger\n  context: {cluster: testbed, user: gitflagger}\n"
        "current-context: gitflagger\n"
    )
    return path


def history_weights(repo: Path, ref: str) -> list[tuple[str, int]]:
    """``(phase, canary weight)`` of every recorded step, oldest first."""
    return [(h.trailers.phase, h.trailers.canary_weight) for h in read_history(repo, ref)][::-1]


def step_times(repo: Path, ref: str) -> list[int]:
    """The recorded time (seconds) of every step commit, oldest first."""
    return [int(h.time.timestamp()) for h in read_history(repo, ref)][::-1]


@contextlib.contextmanager
def app_namespace(kube_api: Any, controller_namespace: str) -> Iterator[str]:
    """A namespace for the app, beside the controller's: deploy/ puts the controller's namespace
    under the "restricted" Pod Security Standard, which podinfo's pods do not meet."""
    core = k8s_client.CoreV1Api(kube_api)
    name = f"{controller_namespace}-app"
    core.create_namespace(k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=name)))
    wait_for("the default ServiceAccount", lambda: _has_default_sa(core, name), 60, 0.2)
    try:
        yield name
    finally:
        with contextlib.suppress(ApiException):
            core.delete_namespace(name, propagation_policy="Background")


def _has_default_sa(core: Any, namespace: str) -> bool:
    try:
        core.read_namespaced_service_account("default", namespace)
    except ApiException:
        return False
    return True


# ---- the run loop's tests: podinfo at a 10s interval, the controller as a process ----------------

INTERVAL = 10
RELEASE = [
    ("Progressing", 0),
    *[("Progressing", w) for w in (10, 20, 30, 40, 50)],
    ("Promoting", 50),
    ("Finalising", 0),
    ("Succeeded", 0),
]
"""The recorded steps of one healthy release at stepWeight 10, maxWeight 50."""
ROLLBACK = [
    ("Progressing", 0),
    ("Progressing", 10),
    *[("Progressing", 10)] * 5,
    ("Failed", 0),
]
"""The recorded steps of a release that fails every check at weight 10 (threshold 5): five halts,
then the rollback, as 6.0.2 does (30% errors against the 99% success rate)."""


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
def sa_kubeconfig(cluster: Cluster, admin: KubeHttp, installed: Installed, tmp_path: Path) -> Path:
    return service_account_kubeconfig(cluster, admin, installed, tmp_path / "kubeconfig")


def start(kubeconfig: Path, repo: RepoUrls, prometheus: Prometheus, ns: str, log: Path,
          *extra: str) -> ControllerProcess:
    return ControllerProcess(kubeconfig, repo.path, prometheus.url, ns, log, *extra).start()


def weight(kube: KubeCluster, ns: str) -> int:
    return int((canary(kube, ns).get("status") or {}).get("canaryWeight", 0))


def assert_one_clean_release(repo: Path, ns: str, *, then: list[tuple[str, int]] | None = None) -> None:
    """Initialization, then exactly the steps of one release (and of ``then``, the releases after
    it): each once, in order, none early."""
    ref = f"{ns}/podinfo"
    ids = step_ids(repo, ref)
    assert len(ids) == len(set(ids)), "a step was committed twice"
    steps = history_weights(repo, ref)
    story = [h.subject for h in read_history(repo, ref)][::-1]
    assert steps[:2] == [("Initializing", 0), ("Initialized", 0)], story
    assert steps[2:] == [*RELEASE, *(then or [])], story
    times = step_times(repo, ref)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= INTERVAL, f"a step came early: {gaps}"
