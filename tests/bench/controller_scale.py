"""Item 5, the controller at scale on the testbed (and the scenario item 6 reuses for Flagger).

What runs: one :class:`tests.testbed.cluster.Cluster` for the whole bench run
(:data:`NODES` kwok nodes of :data:`PODS_PER_NODE` Pods, the testbed's own
controllers at ``--kube-api-qps`` :data:`COMPONENT_QPS` so they are not the
bottleneck, the audit log on for the controllers' ServiceAccounts; no mesh
simulator, no Prometheus). Per run (controller, N): a fresh namespace, N
podinfo-style Deployments and N ``flagger.app/v1beta1`` Canaries whose
analysis is ``stepWeight: 5, maxWeight: 50`` (13 steps per release) and **no
metrics and no webhooks** (every step passes on time alone), at the interval
of :data:`PLAN` for that N. Each run's namespace is left in place afterwards
(the nodes hold every run's Pods; deleting would load the testbed's
controllers during the next run).

Sequence: create the objects, start the controller (its own ServiceAccount
and kubeconfig), wait until every Canary is Initialized, give every Deployment
a new image at once, wait until every Canary is Progressing, then measure over
a **fixed window** (:data:`PLAN`) while the releases are in flight (a release
is 12 intervals long; the window is at most 4), and stop the controller.

How gitflagger runs: ``gitflagger run`` in a child process (this module's
``child`` entry point calls the real click command with ``--qps 100 --burst
250``, Flagger's defaults), recording into a local bare git repository. The
child writes the sum of ``KubeCluster.requests_made`` over its clients to a
file every 0.5 s: the client-side count.

What is measured, over the window, for the controller process only, the same
way for gitflagger and for Flagger:

* steps: Canary status transitions, a change of ``(phase, canaryWeight)`` seen
  by an admin watch on the namespace. The window is a whole number of
  intervals, so in steady state it holds the same number of steps of every
  Canary whatever their phase (the Canaries start in near lockstep: they were
  all created, and all got the new revision, at once);
* API requests per step: the audit log's requests by the controller's
  ServiceAccount (one per request; a watch once) / steps, and for gitflagger
  also the client-side ``requests_made`` delta / steps;
* CPU-seconds per step: ``utime + stime`` delta of ``/proc/<pid>/stat`` / steps;
* RSS: ``VmRSS`` at the end of the window and ``VmHWM`` (peak), MB and MB per Canary;
* step lateness: per Canary, the gap between consecutive transitions (the
  later one inside the window, watch arrival times) minus the interval, p50/p99.

The bench run has a time budget (:func:`tests.bench.harness.remaining`): a run
that cannot fit is reported as not run, with the estimate; a phase that
overruns the budget ends the run with what was reached.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.bench.harness import CACHE, Row, at_most, percentile, remaining

QPS, BURST = "100", "250"
"""Flagger's defaults (``-kubeconfig-qps``/``-kubeconfig-burst``), given to gitflagger too."""
STEP_WEIGHT, MAX_WEIGHT = 5, 50
STEPS_PER_RELEASE = MAX_WEIGHT // STEP_WEIGHT + 3
"""Progressing 0,5..50, Promoting, Finalising, Succeeded."""
IMAGE = "ghcr.io/stefanprodan/podinfo"
NODES, PODS_PER_NODE, COMPONENT_QPS = 4, 1_000, 500.0
"""Capacity 4,000 Pods: every run's 2N Pods (primary + canary) stay scheduled."""
CONTROLLERS_NS = "bench-controllers"
"""The namespace of the controllers' ServiceAccounts; its group is the audit log's only subject."""


@dataclass(frozen=True)
class Plan:
    n: int
    interval: int
    """Seconds; offered load is n / interval steps per second."""
    window: int
    """Seconds of measurement once every Canary is Progressing."""

    def estimate(self) -> float:
        """Wall seconds a run takes when the controller keeps up: create the objects, 2.5 intervals
        to Initialized (plus ~10 requests per Canary at the client's qps), 1.5 intervals to
        Progressing (plus ~5), the window, stopping."""
        qps = float(QPS)
        return (self.n * 0.03 + 2.5 * self.interval + self.n * 10 / qps + 1.5 * self.interval
                + self.n * 5 / qps + self.window + 10)


PLAN = (Plan(100, 10, 40), Plan(1_000, 60, 120), Plan(300, 15, 45))
"""N, interval, window: 10, 16.7 and 20 steps/s offered (at most 80 requests/s at 4 per step, under
the client's 100 qps); the window is 4, 2 and 3 intervals. N=1,000 before N=300: when the budget
cannot hold both, N=1,000 (the RSS target) is the one that runs."""
QUICK_PLAN = ()
"""--quick runs no controller: the testbed alone takes longer than its budget allows."""
FLAGGER_RESERVE = 2 * Plan(100, 10, 40).estimate()
"""Budget kept for item 6's Flagger run at N=100 when deciding whether a larger gitflagger N fits:
twice the estimate, because on a loaded machine Flagger took 98 s to initialise 100 Canaries (33 s
when idle) and a budget-clipped wait for Progressing spoils its window."""
WORKDIR = CACHE / "controller_scale"


def runnable() -> tuple[bool, str]:
    from tests.testbed.cluster import BINARIES, bin_dir

    missing = [b for b in BINARIES if not (bin_dir() / b).is_file()]
    if missing:
        return False, f"testbed binaries missing in {bin_dir()}: {missing} (make testbed-build)"
    return True, ""


# ---- the objects ---------------------------------------------------------------------------------


def deployment(ns: str, name: str, tag: str = "6.0.0") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "podinfod", "image": f"{IMAGE}:{tag}",
                    "ports": [{"name": "http", "containerPort": 9898, "protocol": "TCP"}],
                }]},
            },
        },
    }


def canary_obj(ns: str, name: str, interval: int) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": 3600,
            "service": {"port": 9898},
            "analysis": {"interval": f"{interval}s", "threshold": 5, "maxWeight": MAX_WEIGHT,
                         "stepWeight": STEP_WEIGHT},
        },
    }


def names(n: int) -> list[str]:
    return [f"podinfo-{i:04d}" for i in range(n)]


# ---- /proc sampling --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (not its children), in seconds."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


# ---- watching the Canaries -------------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    name: str
    at: float
    """Wall time the watch event arrived."""
    phase: str
    weight: int


class CanaryWatch:
    """An admin watch on a namespace's Canaries, recording each change of (phase, canaryWeight)."""

    def __init__(self, session: requests.Session, api_url: str, ns: str) -> None:
        self.session, self.ns = session, ns
        self.path = f"{api_url}/apis/flagger.app/v1beta1/namespaces/{ns}/canaries"
        self.state: dict[str, tuple[str, int]] = {}
        self.transitions: list[Transition] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        listing = session.get(self.path, timeout=60)
        listing.raise_for_status()
        body = listing.json()
        for obj in body.get("items", []):
            self._see(obj, time.time(), record=False)
        self._rv = body["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, name=f"watch-{ns}", daemon=True)
        self._thread.start()

    def _see(self, obj: dict[str, Any], at: float, record: bool = True) -> None:
        status = obj.get("status") or {}
        key = (str(status.get("phase", "")), int(status.get("canaryWeight") or 0))
        name = obj["metadata"]["name"]
        with self._lock:
            if self.state.get(name) != key:
                self.state[name] = key
                if record:
                    self.transitions.append(Transition(name, at, *key))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self.session.get(self.path, params={"watch": "1", "resourceVersion": self._rv,
                                                         "timeoutSeconds": "20"},
                                      stream=True, timeout=(10, 40)) as r:
                    r.raise_for_status()
                    for line in r.iter_lines():
                        if self._stop.is_set():
                            return
                        if not line:
                            continue
                        event = json.loads(line)
                        obj = event.get("object") or {}
                        if event.get("type") == "ERROR":
                            raise RuntimeError(f"watch error: {obj.get('message')}")
                        self._rv = obj.get("metadata", {}).get("resourceVersion", self._rv)
                        if event.get("type") in ("ADDED", "MODIFIED"):
                            self._see(obj, time.time())
            except Exception as err:  # relist on anything (410 Gone included)
                self.errors.append(f"{type(err).__name__}: {err}")
                with suppress(Exception):
                    listing = self.session.get(self.path, timeout=60)
                    listing.raise_for_status()
                    body = listing.json()
                    for obj in body.get("items", []):
                        self._see(obj, time.time())
                    self._rv = body["metadata"]["resourceVersion"]
                time.sleep(0.5)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for phase, _ in self.state.values():
                out[phase or "(none)"] = out.get(phase or "(none)", 0) + 1
        return out

    def wait(self, ready: Callable[[dict[str, int]], bool], timeout: float,
             alive: Callable[[], bool]) -> tuple[bool, dict[str, int]]:
        deadline = time.monotonic() + timeout
        while True:
            counts = self.counts()
            if ready(counts):
                return True, counts
            if time.monotonic() > deadline or not alive():
                return False, counts
            time.sleep(0.5)

    def stop(self) -> None:
        self._stop.set()


# ---- the scenario, shared with Flagger -------------------------------------------------------------


@dataclass
class Measured:
    controller: str
    plan: Plan
    steps: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    peak_mb: float = 0.0
    requests_client: int | None = None
    requests_audit: int | None = None
    audit_verbs: dict[str, int] = field(default_factory=dict)
    commits: int | None = None
    lateness: list[float] = field(default_factory=list)
    phases_timing: dict[str, float] = field(default_factory=dict)
    marks: dict[str, tuple[float, int | None]] = field(default_factory=dict)
    """CPU-seconds and client requests at the end of each phase (from the controller's start)."""
    notes: list[str] = field(default_factory=list)
    cut: str = ""
    """Why the run ended before its window (budget, a phase that never completed); empty if not."""


class Scenario:
    """A started testbed with an admin HTTP session; one namespace per controller run."""

    def __init__(self, state: Path) -> None:
        from tests.testbed.cluster import Cluster

        self.cluster = Cluster(state, nodes=NODES, pods_per_node=PODS_PER_NODE, component_qps=COMPONENT_QPS,
                               audit_groups=(f"system:serviceaccounts:{CONTROLLERS_NS}",))
        self.cluster.start()
        assert self.cluster.pki is not None
        s = requests.Session()
        s.trust_env = False
        s.cert = (str(self.cluster.pki.admin.cert), str(self.cluster.pki.admin.key))
        s.verify = str(self.cluster.pki.ca.cert)
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        s.mount("https://", adapter)
        self.http = s
        self.api = self.cluster.api_url
        self._audit_offset = 0

    def close(self) -> None:
        with suppress(Exception):
            self.http.close()
        self.cluster.stop()

    def identity(self, controller: str) -> tuple[Path, str]:
        """(kubeconfig, username) of the controller's own ServiceAccount (cluster-admin)."""
        kubeconfig = self.cluster.service_account_kubeconfig(CONTROLLERS_NS, controller)
        return kubeconfig, f"system:serviceaccount:{CONTROLLERS_NS}:{controller}"

    def post(self, path: str, body: Any) -> None:
        r = self.http.post(self.api + path, json=body, timeout=60)
        if r.status_code not in (200, 201, 409):
            raise RuntimeError(f"POST {path}: HTTP {r.status_code} {r.text[:300]}")

    def namespace(self, ns: str, plan: Plan) -> None:
        self.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        deadline = time.monotonic() + 60
        while self.http.get(f"{self.api}/api/v1/namespaces/{ns}/serviceaccounts/default",
                            timeout=10).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no default ServiceAccount in {ns}")
            time.sleep(0.2)

        def create(name: str) -> None:
            self.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment(ns, name))
            self.post(f"/apis/flagger.app/v1beta1/namespaces/{ns}/canaries",
                      canary_obj(ns, name, plan.interval))

        _parallel(create, names(plan.n))

    def trigger(self, ns: str, n: int) -> None:
        container = {"name": "podinfod", "image": f"{IMAGE}:6.0.1"}
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        smp = {"Content-Type": "application/strategic-merge-patch+json"}

        def one(name: str) -> None:
            r = self.http.patch(f"{self.api}/apis/apps/v1/namespaces/{ns}/deployments/{name}", json=patch,
                                headers=smp, timeout=60)
            r.raise_for_status()

        _parallel(one, names(n))

    def audit_mark(self) -> None:
        """Skip what the audit log holds so far, up to its last complete line, without parsing it."""
        assert self.cluster.audit_log is not None
        with suppress(FileNotFoundError), self.cluster.audit_log.open("rb") as f:
            f.seek(self._audit_offset)
            data = f.read()
            self._audit_offset += data.rfind(b"\n") + 1

    def audit_count(self, user: str, t0: float, t1: float) -> tuple[int, dict[str, int]]:
        """Requests by ``user`` received in [t0, t1] (the log is written asynchronously: wait a beat)."""
        from tests.testbed.cluster import audit_events

        assert self.cluster.audit_log is not None
        time.sleep(2.0)
        events, self._audit_offset = audit_events(self.cluster.audit_log, self._audit_offset)
        mine = [e for e in events if e.user == user and t0 <= e.received <= t1]
        verbs: dict[str, int] = {}
        for e in mine:
            verbs[e.verb] = verbs.get(e.verb, 0) + 1
        return len(mine), verbs


def _parallel(fn: Callable[[str], None], items: list[str], workers: int = 8) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(fn, items))


def measure(
    scenario: Scenario, ns: str, plan: Plan, controller: str, user: str, pid: int, alive: Callable[[], bool],
    requests_made: Callable[[], int | None], watch: CanaryWatch, reserve: float = 0.0,
) -> tuple[Measured, float, float]:
    """Initialise, trigger, wait for Progressing, sample over the window. Returns the figures and the
    window's wall-clock bounds. ``reserve``: budget seconds this run must leave for later runs."""
    out = Measured(controller, plan)
    n, began = plan.n, time.monotonic()

    def budget(default: float) -> float:
        left = remaining()
        return default if left is None else max(1.0, min(default, left - reserve - plan.window - 10))

    init_timeout = budget(max(240.0, 4 * plan.interval + n * 0.5))
    ok, counts = watch.wait(lambda c: c.get("Initialized", 0) >= n, init_timeout, alive)
    out.phases_timing["initialised"] = time.monotonic() - began
    with suppress(OSError):
        out.marks["initialised"] = (cpu_seconds(pid), requests_made())
    if not alive():
        raise RuntimeError(f"{controller} exited before the window")
    if not ok:
        out.cut = f"only {counts} of {n} Canaries initialised after {init_timeout:.0f} s"
        return out, 0.0, 0.0
    scenario.trigger(ns, n)
    m_trigger = time.monotonic()
    progress_timeout = budget(3 * plan.interval + n * 0.2)
    ok, counts = watch.wait(lambda c: c.get("Progressing", 0) >= n, progress_timeout, alive)
    out.phases_timing["progressing"] = time.monotonic() - m_trigger
    if not ok:
        out.notes.append(f"window opened with {counts} ({progress_timeout:.0f} s after the new revision, "
                         f"not every Canary Progressing yet)")
    scenario.audit_mark()
    cpu0, req0 = cpu_seconds(pid), requests_made()
    out.marks["progressing"] = (cpu0, req0)
    t0, m0 = time.time(), time.monotonic()
    deadline = m0 + plan.window
    while time.monotonic() < deadline and alive():
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    if not alive():
        raise RuntimeError(f"{controller} exited during the window")
    out.cpu = cpu_seconds(pid) - cpu0
    out.rss_mb, out.peak_mb = memory_mb(pid)
    req1 = requests_made()
    t1 = time.time()
    out.seconds = time.monotonic() - m0
    out.requests_client = None if req0 is None or req1 is None else req1 - req0
    out.requests_audit, out.audit_verbs = scenario.audit_count(user, t0, t1)
    with watch._lock:
        transitions = list(watch.transitions)
    out.steps = sum(1 for t in transitions if t0 <= t.at <= t1)
    by_name: dict[str, list[float]] = {}
    for t in transitions:
        if t.at <= t1:
            by_name.setdefault(t.name, []).append(t.at)
    for times in by_name.values():
        out.lateness += [max(0.0, b - a - plan.interval) for a, b in itertools.pairwise(times) if b >= t0]
    out.marks["window"] = (cpu0 + out.cpu, req1)
    out.phases_timing["total"] = time.monotonic() - began
    return out, t0, t1


def dump(m: Measured, watch: CanaryWatch, path: Path) -> None:
    """Everything behind a run's rows, for a reader who doubts them: figures and every transition."""
    with watch._lock:
        transitions = [vars(t) for t in watch.transitions]
    body = {k: v for k, v in vars(m).items() if k != "lateness"}
    body["plan"] = vars(m.plan)
    body["watch_errors"] = watch.errors[-20:]
    body["transitions"] = transitions
    path.write_text(json.dumps(body, indent=1, default=str))


# ---- gitflagger ------------------------------------------------------------------------------------


STOP_GRACE = 5.0
"""Seconds a controller gets to exit on SIGTERM once measured, then SIGKILL (nothing is measured
after the window, and a slow exit would only spend the budget)."""


@contextmanager
def controller_process(args: list[str], log_path: Path, **kw: Any) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kw)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _read_counter(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def run_gitflagger(scenario: Scenario, plan: Plan, work: Path, reserve: float) -> Measured:
    import pygit2

    ns = f"gf-{plan.n}"
    repo = work / f"config-{plan.n}.git"
    pygit2.init_repository(str(repo), bare=True)
    kubeconfig, user = scenario.identity("gitflagger")
    created = time.monotonic()
    scenario.namespace(ns, plan)
    watch = CanaryWatch(scenario.http, scenario.api, ns)
    counter = work / f"requests_made-{plan.n}"
    args = [sys.executable, "-m", "tests.bench.controller_scale", "child", str(counter), "--",
            "run", "--kubeconfig", str(kubeconfig), "--repo", str(repo), "--namespace", ns,
            "--metrics-server", "http://127.0.0.1:9", "--metrics-addr", "", "--qps", QPS, "--burst", BURST]
    try:
        with controller_process(args, work / f"gitflagger-{plan.n}.log",
                                cwd=Path(__file__).resolve().parents[2]) as proc:
            def requests_made() -> int | None:
                return _read_counter(counter)  # written every 0.5 s: as stale at both ends of the window

            out, t0, t1 = measure(scenario, ns, plan, "gitflagger", user, proc.pid,
                                  lambda: proc.poll() is None, requests_made, watch, reserve)
    finally:
        watch.stop()
    out.phases_timing["total_with_create"] = time.monotonic() - created
    if not out.cut:
        r = pygit2.Repository(str(repo))
        ref = r.references.get("refs/heads/main")
        if ref is not None:
            head = ref.peel(pygit2.Commit)
            out.commits = sum(1 for c in r.walk(head.id) if t0 <= c.commit_time + 0.5 <= t1)
    dump(out, watch, work / f"gitflagger-{plan.n}.json")
    return out


def _per(x: float | None, steps: int) -> float | None:
    return None if x is None or not steps else x / steps


def rows_for(m: Measured, how: str) -> list[Row]:
    p = m.plan
    label = f"{m.controller} N={p.n} @{p.interval}s"
    if m.cut:
        return [Row(f"{label}: not measured", None, "", notes=f"{how}; run cut short: {m.cut}; "
                    f"phases {_timing(m)}")]
    offered = p.n / p.interval
    extra = ("; " + "; ".join(m.notes)) if m.notes else ""
    commits = (f"; {m.commits} commits with a commit time (1 s resolution) in the window"
               if m.commits is not None else "")
    rows = [
        Row(f"{label}: steps in window", float(m.steps), "steps",
            notes=f"{how}; {m.seconds:.0f} s window once all {p.n} Canaries were Progressing; offered "
                  f"{offered:.1f} steps/s, expected ≈ {offered * m.seconds:.0f}; steps = Canary (phase, "
                  f"canaryWeight) transitions seen by an admin watch{commits}; phases {_timing(m)}{extra}"),
        Row(f"{label}: CPU-seconds per step", _per(m.cpu, m.steps), "CPU-s/step",
            notes=f"utime+stime delta of /proc/<pid>/stat ({m.cpu:.2f} CPU-s, "
                  f"{m.cpu / m.seconds * 100:.0f}% of a core) / steps"),
        Row(f"{label}: RSS", m.rss_mb, "MB",
            target="≤ 150 MB at 1,000" if m.controller == "gitflagger" and p.n >= 1_000 else "",
            met=at_most(m.rss_mb, 150.0) if m.controller == "gitflagger" and p.n >= 1_000 else None,
            notes=f"VmRSS at window end; peak VmHWM {m.peak_mb:.1f} MB; {m.rss_mb / p.n:.3f} MB per Canary"),
        Row(f"{label}: MB per Canary", m.rss_mb / p.n, "MB/Canary", notes="VmRSS / N"),
    ]
    mine = m.controller == "gitflagger"
    if m.requests_client is not None:
        value = _per(float(m.requests_client), m.steps)
        rows.append(Row(f"{label}: API requests per step (client)", value, "req/step",
                        target="≤ 4", met=at_most(value, 4.0),
                        notes=f"{m.requests_client} requests counted at the client "
                              f"(KubeCluster.requests_made) / steps; "
                              f"{m.requests_client / m.seconds:.0f} req/s against the client limit "
                              f"--qps {QPS}"))
    if m.requests_audit is not None:
        value = _per(float(m.requests_audit), m.steps)
        verbs = ", ".join(f"{k} {v}" for k, v in sorted(m.audit_verbs.items(), key=lambda kv: -kv[1]))
        rows.append(Row(f"{label}: API requests per step (audit)", value, "req/step",
                        target="≤ 4" if mine else "", met=at_most(value, 4.0) if mine else None,
                        notes=f"{m.requests_audit} requests by its ServiceAccount in the kube-apiserver "
                              f"audit log (one per request, a watch once) / steps; {verbs}"))
    if m.lateness:
        p50, p99 = percentile(m.lateness, 50), percentile(m.lateness, 99)
        rows.append(Row(f"{label}: step lateness p99", p99, "s", target="≤ 5 s", met=at_most(p99, 5.0),
                        notes=f"p50 {p50:.1f} s, max {max(m.lateness):.1f} s over {len(m.lateness)} gaps: "
                              f"consecutive transitions per Canary (the later in the window) minus the "
                              f"{p.interval} s interval; the Canaries got the new revision at once, so "
                              f"their steps fall due together and a controller that takes them one by one "
                              f"is late by up to one round's duration"))
        rows.append(Row(f"{label}: step lateness p50", p50, "s", notes="see p99"))
    return rows


def _timing(m: Measured) -> str:
    """How long each phase took, with the controller's CPU-seconds and client requests by its end."""
    t = m.phases_timing
    parts = []
    for key, label in (("initialised", "to Initialized"), ("progressing", "new revision to Progressing"),
                       ("total_with_create", "whole run")):
        if key in t:
            mark = m.marks.get(key)
            extra = ""
            if mark is not None:
                extra = f" ({mark[0]:.1f} CPU-s" + (f", {mark[1]} requests)" if mark[1] is not None else ")")
            parts.append(f"{label} {t[key]:.0f} s{extra}")
    return ", ".join(parts) or "n/a"


_LAST: dict[int, Measured] = {}
"""gitflagger's figures per N from this process's run, for item 6's ratios."""

HOW = (f"gitflagger run (child process, --qps {QPS} --burst {BURST}, local bare repo, own ServiceAccount), "
       "Canaries without metrics or webhooks")


def run(quick: bool) -> list[Row]:
    if quick:
        return [Row("controller at scale", None, "", notes="not in --quick (needs the testbed, minutes)")]
    ok, why = runnable()
    if not ok:
        return [Row("controller at scale", None, "", notes=f"not runnable: {why}")]
    rows: list[Row] = []
    work = WORKDIR / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    scenario = shared_scenario(work)
    rows.append(Row("testbed start", time.monotonic() - started, "s",
                    notes=f"{NODES} kwok nodes × {PODS_PER_NODE} Pods, kube-controller-manager and "
                          f"kube-scheduler at --kube-api-qps {COMPONENT_QPS:g}, audit log on for the "
                          f"controllers' ServiceAccounts"))
    for i, plan in enumerate(PLAN):
        reserve = FLAGGER_RESERVE  # larger N after this one are optional: they skip when out of budget
        left = remaining()
        if i > 0 and left is not None and left < plan.estimate() + FLAGGER_RESERVE:
            rows.append(Row(f"gitflagger N={plan.n} @{plan.interval}s", None, "",
                            notes=f"not run: the bench budget has {left:.0f} s left and this run needs about "
                                  f"{plan.estimate():.0f} s plus {FLAGGER_RESERVE:.0f} s kept for Flagger "
                                  f"(run it alone: python -m tests.bench --only controller_scale)"))
            continue
        try:
            m = run_gitflagger(scenario, plan, work, reserve)
        except Exception as err:
            rows.append(Row(f"gitflagger N={plan.n}", None, "", notes="error",
                            error=f"{type(err).__name__}: {err}"))
            continue
        if not m.cut:
            _LAST[plan.n] = m
        rows += rows_for(m, HOW)
    return rows


_SCENARIO: Scenario | None = None


def shared_scenario(work: Path) -> Scenario:
    """One testbed for items 5 and 6 in one bench run; stopped at exit."""
    global _SCENARIO
    if _SCENARIO is None:
        import atexit

        _SCENARIO = Scenario(work / "cluster")
        atexit.register(_SCENARIO.close)
    return _SCENARIO


# ---- the child: gitflagger run, with its client-side request count written out -----------------------


def child(counter: Path, argv: list[str]) -> None:
    """``gitflagger run`` with every :class:`KubeCluster` it creates counted (however it creates them)."""
    from gitflagger.adapters import kube
    from gitflagger.cli.main import cli

    made: list[Any] = []
    original = kube.KubeCluster.__init__

    def counting_init(self: Any, *args: Any, **kw: Any) -> None:
        original(self, *args, **kw)
        made.append(self)

    kube.KubeCluster.__init__ = counting_init  # type: ignore[method-assign]

    def dump() -> None:
        while True:
            if made:
                tmp = counter.with_suffix(".tmp")
                tmp.write_text(str(sum(k.requests_made for k in list(made))))
                tmp.replace(counter)
            time.sleep(0.5)

    threading.Thread(target=dump, daemon=True).start()
    cli.main(args=argv, standalone_mode=True)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "child" and sys.argv[3] == "--":
        child(Path(sys.argv[2]), sys.argv[4:])
    else:
        print(json.dumps({"usage": "python -m tests.bench.controller_scale child COUNTER -- run ARGS"}))
