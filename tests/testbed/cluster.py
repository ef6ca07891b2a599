"""A real Kubernetes control plane on loopback, for tests and ``make testbed``.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are the real
binaries built by ``tests/testbed/build.sh``; kwok fakes the Nodes (two of 110
Pods by default) and the kubelet's work on their Pods (bind -> Running/Ready,
delete -> gone)::

    with Cluster() as c:
        api = c.kube_client()          # kubernetes.client.ApiClient, admin
        ...
        c.stop_apiserver(); c.start_apiserver()

For benchmarks, ``Cluster(nodes=4, pods_per_node=1000, component_qps=500)``
holds thousands of Pods without the testbed's own controllers being rate
limited (at their default client limits, 20 qps for kube-controller-manager,
the testbed brings up about 10 Pods a second; at 500 qps, 1,000 Deployments of
2 replicas are all Running about 6 s after the last one is created), and
``audit_groups`` turns on the kube-apiserver audit log (level Metadata, JSON
lines) for those user groups only, so a controller's API requests can be
counted at the server (:func:`audit_events`); with
:meth:`Cluster.service_account_kubeconfig` each controller gets its own
identity. Both are off by default: tests pay for neither.

Every process runs in its own process group, logs to ``<state_dir>/logs`` and
is stopped by :meth:`Cluster.stop`, at interpreter exit and on SIGTERM/SIGINT
(see :mod:`tests.testbed.procs`). Each start is a fresh cluster: the etcd data
under the state dir is wiped, certificates are kept.
"""

from __future__ import annotations

import base64
import fcntl
import json
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import requests
import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from tests.testbed import crd_install, gateway_api, keda
from tests.testbed.pki import ClusterPKI
from tests.testbed.procs import ComponentError, Proc, free_ports, stop_procs

__all__ = ["BINARIES", "AuditEvent", "Cluster", "ClusterPorts", "ComponentError", "audit_events", "bin_dir",
           "build", "repo_root"]

TESTBED_DIR = Path(__file__).resolve().parent
KWOK_STAGES_DIR = TESTBED_DIR / "kwok"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
NODE_COUNT = 2
PODS_PER_NODE = 110
SERVICE_CIDR = "10.96.0.0/16"
POD_CIDR = "10.244.0.0/16"
CONTROLLERS = [f"{c}-controller" for c in (
    "deployment", "replicaset", "daemonset", "horizontal-pod-autoscaler", "namespace", "garbage-collector",
    "serviceaccount", "serviceaccount-token", "root-ca-certificate-publisher", "clusterrole-aggregation",
    "endpoints", "endpointslice", "endpointslice-mirroring", "pod-garbage-collector", "disruption",
    "service-cidr",
    # Removes the not-ready taint that admission puts on new Nodes once kwok reports them Ready.
    # taint-eviction-controller stays off: pods are never evicted from a node that looks stale.
    "node-lifecycle",
)]


def repo_root() -> Path:
    return TESTBED_DIR.parent.parent


def bin_dir() -> Path:
    """The directory build.sh puts (or would put) the binaries in."""
    out = subprocess.run(
        ["bash", str(TESTBED_DIR / "build.sh"), "--print-dir"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip()) / "bin"


def build() -> Path:
    """Run build.sh (a no-op when cached); return the bin dir. Raises with the build's output on failure.

    Under an exclusive lock on the cache directory: pytest-xdist workers all call this at once, and
    build.sh is not safe to run twice at a time on a cold cache. One builds; the others wait, then
    find the cache warm (a warm build.sh returns in well under a second).
    """
    cache = bin_dir().parent
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        proc = subprocess.run(["bash", str(TESTBED_DIR / "build.sh")], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"tests/testbed/build.sh failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1]) / "bin"


@dataclass(frozen=True)
class ClusterPorts:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    kwok: int

    def all(self) -> list[int]:
        return [self.etcd_client, self.etcd_peer, self.apiserver, self.controller_manager, self.scheduler,
                self.kwok]


class Cluster:
    """Control plane + kwok nodes. Not thread-safe; use from one thread (restarts may come from another)."""

    def __init__(
        self,
        state_dir: str | Path | None = None,
        *,
        binaries: str | Path | None = None,
        crd_dirs: Sequence[str | Path] | None = None,
        start_timeout: float = 180.0,
        nodes: int = NODE_COUNT,
        pods_per_node: int = PODS_PER_NODE,
        node_cpu: str = "16",
        node_memory: str = "64Gi",
        component_qps: float | None = None,
        audit_groups: Sequence[str] = (),
    ) -> None:
        """``nodes`` kwok Nodes, each with ``pods_per_node`` Pods (and ``node_cpu``/``node_memory``) of
        capacity and allocatable. ``component_qps``: the client rate limit of kube-controller-manager
        and kube-scheduler (``--kube-api-qps``, burst twice that; their defaults when None).
        ``audit_groups``: user groups whose requests go to the audit log (none: no audit log)."""
        self._own_state_dir = state_dir is None
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="gitflagger-testbed-")).resolve()
        self.bin_dir = Path(binaries) if binaries is not None else bin_dir()
        if crd_dirs is None:
            crd_dirs = [TESTBED_DIR / "crds", gateway_api.crd_dir(), keda.crd_dir(),
                        repo_root() / "deploy" / "crds"]
        self.crd_dirs = [Path(d) for d in crd_dirs]
        self.start_timeout = start_timeout
        if nodes < 1 or pods_per_node < 1:
            raise ValueError(f"need at least one node and one pod per node, got {nodes} x {pods_per_node}")
        self.nodes = nodes
        self.pods_per_node = pods_per_node
        self.node_cpu = node_cpu
        self.node_memory = node_memory
        self.component_qps = component_qps
        self.audit_groups = tuple(audit_groups)
        self.audit_log: Path | None = self.state_dir / "audit" / "audit.log" if self.audit_groups else None
        self.logs_dir = self.state_dir / "logs"
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.ports: ClusterPorts | None = None
        self.pki: ClusterPKI | None = None
        self.crds: list[str] = []
        self.start_seconds: float | None = None
        self._procs: dict[str, Proc] = {}
        self._http: requests.Session | None = None

    # ---- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        if self.ports is None:
            raise RuntimeError("cluster not started")
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.running() for p in self._procs.values())

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._procs.items() if p.pid is not None and p.running()}

    def start(self) -> Self:
        began = time.monotonic()
        if self._procs:
            raise RuntimeError("cluster already started")
        missing = [b for b in BINARIES if not (self.bin_dir / b).is_file()]
        if missing:
            raise RuntimeError(
                f"testbed binaries missing in {self.bin_dir}: {missing}; run tests/testbed/build.sh"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.state_dir / "etcd", ignore_errors=True)
        self.logs_dir.mkdir(exist_ok=True)
        self.pki = ClusterPKI.ensure(self.state_dir / "pki")
        self.ports = ClusterPorts(*free_ports(6))
        self._write_kubeconfigs()
        try:
            self._start_etcd()
            self._start_apiserver_proc()
            self._wait("kube-apiserver /readyz", self._apiserver_ready)
            self._start_controllers()
            self._create_nodes()
            self.crds = crd_install.apply_crd_dirs(self._session(), self.api_url, self.crd_dirs)
            self._wait("default ServiceAccount in namespace default",
                       lambda: self._get("/api/v1/namespaces/default/serviceaccounts/default") is not None)
            self._wait(f"{self.nodes} Ready nodes", self._nodes_ready)
            self._wait("CRDs Established",
                       lambda: crd_install.all_established(self._session(), self.api_url, self.crds))
            self._wait("kube-controller-manager and kube-scheduler /healthz", self._controllers_healthy)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        """Stop every process (whole process groups). Idempotent."""
        # In stages: kube-apiserver takes its full grace period to stop if etcd is already gone.
        for stage in (("kwok", "kube-scheduler", "kube-controller-manager"), ("kube-apiserver",), ("etcd",)):
            stop_procs([self._procs.pop(name) for name in stage if name in self._procs])
        stop_procs(list(self._procs.values()))
        self._procs.clear()
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._own_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def stop_apiserver(self, grace: float = 3.0) -> None:
        """Stop kube-apiserver only; etcd, controllers and kwok keep running and reconnect later.

        It stops listening at once on SIGTERM but, with watch clients connected, would take
        minutes to exit, so it is SIGKILLed after ``grace`` seconds (etcd holds all state).
        """
        proc = self._procs.get("kube-apiserver")
        if proc is None:
            raise RuntimeError("kube-apiserver is not running")
        proc.stop(timeout=grace)
        del self._procs["kube-apiserver"]

    def start_apiserver(self, wait: bool = True) -> None:
        """Start kube-apiserver again on the same port with the same certificates."""
        if "kube-apiserver" in self._procs:
            raise RuntimeError("kube-apiserver is already running")
        self._start_apiserver_proc()
        if wait:
            self._wait("kube-apiserver /readyz after restart", self._apiserver_ready)

    def kube_client(self) -> k8s_client.ApiClient:
        """A fresh admin ``kubernetes.client.ApiClient`` for this cluster."""
        api: k8s_client.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig)
        )
        return api

    def log_path(self, component: str) -> Path:
        return self.logs_dir / f"{component}.log"

    def service_account_kubeconfig(self, namespace: str, name: str, *, role: str = "cluster-admin",
                                   expiration_seconds: int = 86_400) -> Path:
        """A kubeconfig that authenticates as ServiceAccount ``namespace/name`` with a bound token.

        Creates the namespace and the ServiceAccount if missing and binds ``role`` (a ClusterRole)
        to it cluster-wide. The user is ``system:serviceaccount:<namespace>:<name>``, in group
        ``system:serviceaccounts:<namespace>`` (what ``audit_groups`` can name).
        """
        self._create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                            "metadata": {"name": namespace}})
        self._create(f"/api/v1/namespaces/{namespace}/serviceaccounts",
                     {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}})
        self._create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"testbed:{namespace}:{name}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        })
        r = self._session().post(
            self.api_url + f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": expiration_seconds}}, timeout=10)
        if r.status_code != 201:
            raise RuntimeError(f"token for {namespace}/{name}: HTTP {r.status_code} {r.text}")
        assert self.pki is not None
        cluster_name, user = "gitflagger-testbed", f"{namespace}-{name}"
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": cluster_name, "cluster": {
                "server": self.api_url,
                "certificate-authority-data": base64.b64encode(self.pki.ca.cert.read_bytes()).decode()}}],
            "users": [{"name": user, "user": {"token": r.json()["status"]["token"]}}],
            "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
            "current-context": cluster_name,
        }
        path = self.state_dir / f"{user}.kubeconfig"
        path.write_text(json.dumps(config, indent=1))  # JSON is YAML
        path.chmod(0o600)
        return path

    # ---- processes -------------------------------------------------------------------------------
    def _spawn(self, name: str, args: Iterable[str]) -> Proc:
        proc = Proc(name, [str(self.bin_dir / name), *args], self.log_path(name), cwd=self.state_dir)
        self._procs[name] = proc
        proc.start()
        return proc

    def _start_etcd(self) -> None:
        assert self.ports is not None
        client = f"http://127.0.0.1:{self.ports.etcd_client}"
        peer = f"http://127.0.0.1:{self.ports.etcd_peer}"
        self._spawn("etcd", [
            "--name=testbed", f"--data-dir={self.state_dir / 'etcd'}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=testbed={peer}", "--initial-cluster-state=new",
            "--listen-metrics-urls=", "--unsafe-no-fsync=true", "--log-level=warn",
            "--quota-backend-bytes=4294967296",
        ])
        self._wait("etcd /health", lambda: _get_ok(f"{client}/health"))

    def _start_apiserver_proc(self) -> None:
        assert self.ports is not None and self.pki is not None
        pki = self.pki
        self._spawn("kube-apiserver", [*self._audit_args(),
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports.apiserver}", f"--cert-dir={self.state_dir / 'apiserver-certs'}",
            f"--etcd-servers=http://127.0.0.1:{self.ports.etcd_client}",
            f"--tls-cert-file={pki.apiserver.cert}", f"--tls-private-key-file={pki.apiserver.key}",
            f"--client-ca-file={pki.ca.cert}",
            "--authorization-mode=Node,RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.sa_public_key}",
            f"--service-account-signing-key-file={pki.sa_private_key}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # Endpoints may not point at loopback, so the "kubernetes" Service gets none.
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true", "--profiling=false", "--v=1",
        ])

    def _start_controllers(self) -> None:
        assert self.ports is not None and self.pki is not None
        ports, pki, sd = self.ports, self.pki, self.state_dir
        self._spawn("kube-controller-manager", [
            f"--kubeconfig={sd / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.controller_manager}",
            f"--cert-dir={sd / 'controller-manager-certs'}",
            "--leader-elect=false", f"--controllers={','.join(CONTROLLERS)}",
            f"--root-ca-file={pki.ca.cert}",
            f"--service-account-private-key-file={pki.sa_private_key}",
            "--use-service-account-credentials=true",
            f"--service-cluster-ip-range={SERVICE_CIDR}", "--cluster-name=gitflagger-testbed",
            # Survives kube-apiserver being stopped for a while without nodes turning NotReady.
            "--node-monitor-period=2s", "--node-monitor-grace-period=2m",
            "--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10",
            *self._qps_args(),
            "--profiling=false", "--v=1",
        ])
        self._spawn("kube-scheduler", [
            f"--kubeconfig={sd / 'scheduler.kubeconfig'}",
            "--bind-address=127.0.0.1", f"--secure-port={ports.scheduler}",
            f"--cert-dir={sd / 'scheduler-certs'}",
            "--leader-elect=false", *self._qps_args(), "--profiling=false", "--v=1",
        ])
        stages = sorted(KWOK_STAGES_DIR.glob("*.yaml"))
        self._spawn("kwok", [
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            *[f"--config={s}" for s in stages],
            f"--server-address=127.0.0.1:{ports.kwok}",
            f"--cidr={POD_CIDR}", "--node-ip=10.255.0.1", "--node-lease-duration-seconds=40",
        ])

    def _audit_args(self) -> list[str]:
        """Audit logging of ``audit_groups`` only, at level Metadata (no bodies), one JSON line per
        request at its last stage; asynchronous (batch mode) so requests do not wait on the file."""
        if self.audit_log is None:
            return []
        self.audit_log.parent.mkdir(parents=True, exist_ok=True)
        policy = self.state_dir / "audit" / "policy.json"
        policy.write_text(json.dumps({
            "apiVersion": "audit.k8s.io/v1", "kind": "Policy",
            # A watch is logged when its response starts (and again when it ends); a short request
            # when it completes. :func:`audit_events` keeps one event per request (auditID).
            "omitStages": ["RequestReceived"],
            "rules": [{"level": "Metadata", "userGroups": list(self.audit_groups)}, {"level": "None"}],
        }))
        return [f"--audit-policy-file={policy}", f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json", "--audit-log-mode=batch", "--audit-log-batch-buffer-size=100000",
                "--audit-log-maxsize=100000", "--audit-log-maxbackup=0"]

    def _qps_args(self) -> list[str]:
        if self.component_qps is None:
            return []
        return [f"--kube-api-qps={self.component_qps:g}", f"--kube-api-burst={int(self.component_qps * 2)}"]

    # ---- API helpers -------------------------------------------------------------------------------
    def _create(self, path: str, obj: dict[str, Any]) -> None:
        r = self._session().post(self.api_url + path, json=obj, timeout=10)
        if r.status_code not in (201, 409):
            raise RuntimeError(f"POST {path}: HTTP {r.status_code} {r.text}")

    def _session(self) -> requests.Session:
        if self._http is None:
            assert self.pki is not None
            s = requests.Session()
            s.trust_env = False  # REQUESTS_CA_BUNDLE etc. would override our CA; no proxies on loopback
            s.cert = (str(self.pki.admin.cert), str(self.pki.admin.key))
            s.verify = str(self.pki.ca.cert)
            self._http = s
        return self._http

    def _get(self, path: str) -> Any:
        r = self._session().get(self.api_url + path, timeout=10)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()

    def _apiserver_ready(self) -> bool:
        try:
            return self._session().get(self.api_url + "/readyz", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _controllers_healthy(self) -> bool:
        assert self.ports is not None
        return all(_get_ok(f"https://127.0.0.1:{p}/healthz", verify=False)
                   for p in (self.ports.controller_manager, self.ports.scheduler))

    def _create_nodes(self) -> None:
        for i in range(self.nodes):
            name = f"kwok-node-{i}"
            resources = {"cpu": self.node_cpu, "memory": self.node_memory, "pods": str(self.pods_per_node),
                         "ephemeral-storage": "100Gi"}
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    "labels": {"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                               "kubernetes.io/arch": "amd64", "kubernetes.io/role": "agent",
                               "node-role.kubernetes.io/agent": ""},
                },
                "spec": {},
                "status": {
                    "capacity": resources, "allocatable": resources,
                    "addresses": [{"type": "InternalIP", "address": f"10.255.{i // 250}.{i % 250 + 1}"},
                                  {"type": "Hostname", "address": name}],
                },
            }
            r = self._session().post(self.api_url + "/api/v1/nodes", json=node, timeout=10)
            if r.status_code not in (201, 409):
                raise RuntimeError(f"creating node {name}: HTTP {r.status_code} {r.text}")

    def _nodes_ready(self) -> bool:
        nodes = (self._get("/api/v1/nodes?labelSelector=type%3Dkwok") or {}).get("items", [])
        ready = [
            n for n in nodes
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in n.get("status", {}).get("conditions", []))
            and not any(t.get("key", "").startswith("node.kubernetes.io/")
                        for t in n["spec"].get("taints", []))
        ]
        return len(ready) >= self.nodes

    def _wait(self, what: str, ready: Callable[[], bool], timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.start_timeout)
        last_error: Exception | None = None
        while True:
            for proc in self._procs.values():
                proc.check()
            try:
                if ready():
                    return
            except (requests.RequestException, ValueError) as exc:
                last_error = exc
            if time.monotonic() > deadline:
                details = "\n".join(
                    f"--- {p.name} ({p.log_path}) ---\n{p.log_tail(8)}" for p in self._procs.values()
                )
                raise TimeoutError(
                    f"testbed: timed out waiting for {what} (last error: {last_error})\n{details}"
                )
            time.sleep(0.25)

    # ---- kubeconfigs ----------------------------------------------------------------------------
    def _write_kubeconfigs(self) -> None:
        assert self.pki is not None
        sd, pki, url = self.state_dir, self.pki, self.api_url
        pki.write_kubeconfig(self.kubeconfig, url, "testbed-admin", pki.admin)
        pki.write_kubeconfig(sd / "controller-manager.kubeconfig", url, "kube-controller-manager",
                             pki.controller_manager)
        pki.write_kubeconfig(sd / "scheduler.kubeconfig", url, "kube-scheduler", pki.scheduler)


@dataclass(frozen=True)
class AuditEvent:
    """One API request from the audit log: who, what, when (the server's receive time)."""

    audit_id: str
    user: str
    verb: str
    uri: str
    code: int | None
    received: float
    """``requestReceivedTimestamp`` as a Unix time."""


def audit_events(path: Path, offset: int = 0) -> tuple[list[AuditEvent], int]:
    """The requests logged in ``path`` from byte ``offset`` on, one per request, and the next offset.

    A watch is logged at ResponseStarted and again at ResponseComplete when it ends; both carry
    its auditID, so it is one request here. Watch bookmarks and events are not requests and are
    never logged. An incomplete last line (the writer is mid-line) is left for the next call.
    """
    events: list[AuditEvent] = []
    seen: set[str] = set()
    if not path.exists():
        return events, offset
    with path.open("rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    for line in data[:end].splitlines():
        if not line.strip():
            continue
        raw = json.loads(line)
        audit_id = raw.get("auditID", "")
        if audit_id in seen or (raw.get("stage") == "ResponseComplete" and raw.get("verb") == "watch"):
            continue  # a watch: counted at ResponseStarted (an aborted one may log only this; rare)
        seen.add(audit_id)
        status = raw.get("responseStatus") or {}
        events.append(AuditEvent(
            audit_id, (raw.get("user") or {}).get("username", ""), raw.get("verb", ""),
            raw.get("requestURI", ""), status.get("code"), _unix(raw.get("requestReceivedTimestamp", "")),
        ))
    return events, offset + end


def _unix(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _get_ok(url: str, verify: bool | str = True) -> bool:
    try:
        with warnings.catch_warnings():  # the controllers' serving certs are self-signed
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            with requests.Session() as s:
                s.trust_env = False
                return s.get(url, timeout=5, verify=verify).status_code == 200
    except requests.RequestException:
        return False
