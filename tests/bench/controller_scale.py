"""Item 5, the controller at scale on the testbed (and the scenario item 6 reuses for Flagger).

What runs: a fresh :class:`tests.testbed.cluster.Cluster` (apiserver, etcd,
controller-manager, scheduler, kwok nodes; no mesh simulator, no Prometheus),
one namespace per controller run, N podinfo-style Deployments and N
``flagger.app/v1beta1`` Canaries whose analysis is ``interval: 10s,
stepWeight: 10, maxWeight: 50, threshold: 5`` and **no metrics and no
webhooks** (every step passes on time alone). The controller starts, the
Canaries initialise, then every Deployment gets a new image at once and the
window opens; it closes when every Canary has Succeeded or after
:data:`WINDOW` seconds, whichever comes first.

How gitflagger runs: ``gitflagger run`` in a child process (this module's
``child`` entry point calls the real click command with ``--qps 100 --burst
250``, Flagger's defaults), recording into a local git repository. The child
also writes ``KubeCluster.requests_made`` (API requests counted at the client)
to a file every 0.5 s, because ``/metrics`` exposes no request counter.

What is measured, over the window, for the controller process only:

* steps: commits on the config branch whose commit time is inside the window;
* API requests per step: the ``requests_made`` delta / steps;
* CPU-seconds per step: ``utime + stime`` delta of ``/proc/<pid>/stat`` / steps;
* RSS: ``VmRSS`` at the end of the window and ``VmHWM`` (peak), MB and MB per Canary;
* step lateness: per Canary, the gap between consecutive step commits of the
  release minus the 10 s interval (commit times have 1 s resolution), p50/p99.

Flagger (item 6) runs the same scenario in its own namespace afterwards, never
at the same time (:func:`scenario` is shared).
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

from tests.bench.harness import CACHE, Row, at_most, percentile

INTERVAL = 10
WINDOW = 150.0
"""Seconds after the new revision: a release is 8 steps at 10 s, so ~80-100 s when on time."""
INIT_TIMEOUT = 240.0
QPS, BURST = "100", "250"
STEPS_PER_RELEASE = 8
"""Progressing 0,10..50, Promoting, Finalising, Succeeded minus the first (taken at the trigger)."""
IMAGE = "ghcr.io/stefanprodan/podinfo"
FULL_N = (100,)
"""300 and 1,000 are not run: see :data:`NOT_RUN`."""
NOT_RUN = ("N=300 and N=1,000 not run: the testbed has 2 kwok nodes of 110 Pods (220), and N Canaries "
           "in progress need 2N Pods (primary + canary); the testbed would need more nodes; also, one "
           "run per controller at N=100 takes ~4 min of wall time on this 2-core machine")
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


def canary_obj(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": 600,
            "service": {"port": 9898},
            "analysis": {"interval": f"{INTERVAL}s", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
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


# ---- the scenario, shared with Flagger -------------------------------------------------------------


@dataclass
class Measured:
    controller: str
    n: int
    steps: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    rss_mb: float = 0.0
    peak_mb: float = 0.0
    requests: int | None = None
    succeeded: int = 0
    lateness: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Scenario:
    """A started testbed with an admin :class:`KubeCluster`; one namespace per controller run."""

    def __init__(self, state: Path) -> None:
        from gitflagger.adapters.kube import KubeCluster
        from tests.testbed.cluster import Cluster

        self.cluster = Cluster(state)
        self.cluster.start()
        self.kube = KubeCluster(self.cluster.kube_client(), qps=500, burst=500)

    def close(self) -> None:
        with suppress(Exception):
            self.kube.close()
        self.cluster.stop()

    def request(self, method: str, path: str, body: Any = None, ctype: str = "application/json") -> Any:
        return self.kube.transport.request(method, path, body=body, content_type=ctype, what="bench")

    def create(self, obj: dict[str, Any]) -> None:
        resource = self.kube.resources.resolve(obj["apiVersion"], obj["kind"])
        self.request("POST", resource.path(obj["metadata"].get("namespace", "")), obj)

    def namespace(self, ns: str, n: int) -> None:
        self.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                   "metadata": {"name": ns}})
        deadline = time.monotonic() + 60
        while self.kube.get("v1", "ServiceAccount", ns, "default") is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no default ServiceAccount in {ns}")
            time.sleep(0.2)
        for name in names(n):
            self.create(deployment(ns, name))
            self.create(canary_obj(ns, name))

    def drop_namespace(self, ns: str, timeout: float = 120.0) -> None:
        """Delete ``ns`` and wait until its Pods are gone: the testbed's two kwok nodes hold 110 Pods
        each, and N=100 needs 200 (primary + canary) per controller run."""
        self.request("DELETE", f"/api/v1/namespaces/{ns}")
        deadline = time.monotonic() + timeout
        while self.kube.list_objects("v1", "Pod", ns) and time.monotonic() < deadline:
            time.sleep(1)

    def phases(self, ns: str) -> dict[str, str]:
        items, _ = self.kube.list_canaries(ns)
        return {o["metadata"]["name"]: str((o.get("status") or {}).get("phase", "")) for o in items}

    def wait_phases(self, ns: str, ok: set[str], timeout: float, n: int) -> tuple[bool, dict[str, int]]:
        deadline = time.monotonic() + timeout
        while True:
            phases = self.phases(ns)
            counts: dict[str, int] = {}
            for p in phases.values():
                counts[p] = counts.get(p, 0) + 1
            if sum(counts.get(p, 0) for p in ok) >= n:
                return True, counts
            if time.monotonic() > deadline:
                return False, counts
            time.sleep(2)

    def trigger(self, ns: str, n: int) -> None:
        resource = self.kube.resources.resolve("apps/v1", "Deployment")
        patch = {"spec": {"template": {"spec": {"containers": [
            {"name": "podinfod", "image": f"{IMAGE}:6.0.1"}]}}}}
        for name in names(n):
            self.request("PATCH", resource.path(ns) + "/" + name, patch,
                         "application/strategic-merge-patch+json")

    def canary_events(self, ns: str) -> list[dict[str, Any]]:
        items = self.kube.list_objects("v1", "Event", ns)
        return [e for e in items if (e.get("involvedObject") or {}).get("kind") == "Canary"]


def measure(
    scenario: Scenario, ns: str, n: int, controller: str, pid: int, alive: Callable[[], bool],
    requests_made: Callable[[], int | None],
) -> tuple[Measured, float, float]:
    """Initialise, trigger, sample over the window. Returns the figures and the window's wall times."""
    out = Measured(controller, n)
    ok, counts = scenario.wait_phases(ns, {"Initialized"}, INIT_TIMEOUT, n)
    if not ok:
        raise RuntimeError(f"{controller}: only {counts} of {n} Canaries initialised in {INIT_TIMEOUT:.0f} s")
    if not alive():
        raise RuntimeError(f"{controller} exited before the window")
    cpu0, req0 = cpu_seconds(pid), requests_made()
    t0, m0 = time.time(), time.monotonic()
    scenario.trigger(ns, n)
    done, counts = scenario.wait_phases(ns, {"Succeeded"}, WINDOW, n)
    if not alive():
        raise RuntimeError(f"{controller} exited during the window")
    out.seconds = time.monotonic() - m0
    t1 = time.time()
    out.cpu = cpu_seconds(pid) - cpu0
    out.rss_mb, out.peak_mb = memory_mb(pid)
    req1 = requests_made()
    out.requests = None if req0 is None or req1 is None else req1 - req0
    out.succeeded = counts.get("Succeeded", 0)
    if not done:
        out.notes.append(f"window closed after {WINDOW:.0f} s with phases {counts}")
    return out, t0, t1


# ---- gitflagger ------------------------------------------------------------------------------------


@contextmanager
def gitflagger_process(
    kubeconfig: Path, repo: Path, ns: str, work: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    counter = work / "requests_made"
    args = [sys.executable, "-m", "tests.bench.controller_scale", "child", str(counter), "--",
            "run", "--kubeconfig", str(kubeconfig), "--repo", str(repo), "--namespace", ns,
            "--metrics-server", "http://127.0.0.1:9", "--metrics-addr", "", "--qps", QPS, "--burst", BURST]
    with (work / "gitflagger.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=Path(__file__).resolve().parents[2])
    try:
        yield proc, counter
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def _read_counter(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def run_gitflagger(scenario: Scenario, n: int, work: Path) -> Measured:
    import pygit2

    from gitflagger.adapters.git import read_history

    ns = f"gf-{n}"
    repo = work / f"config-{n}.git"
    pygit2.init_repository(str(repo), bare=True)
    scenario.namespace(ns, n)
    with gitflagger_process(scenario.cluster.kubeconfig, repo, ns, work) as (proc, counter):
        # The counter is written every 0.5 s; sample it after a beat so it is fresh.
        def requests() -> int | None:
            time.sleep(0.6)
            return _read_counter(counter)

        try:
            out, t0, t1 = measure(scenario, ns, n, "gitflagger", proc.pid, lambda: proc.poll() is None,
                                  requests)
        except BaseException:
            scenario.drop_namespace(ns)
            raise
    r = pygit2.Repository(str(repo))
    head = r.references["refs/heads/main"].peel(pygit2.Commit)
    out.steps = sum(1 for c in r.walk(head.id) if t0 - 1 <= c.commit_time <= t1 + 1)
    for name in names(n):
        times = [h.time.timestamp() for h in read_history(repo, f"{ns}/{name}")][::-1]
        release = [t for t in times if t >= t0 - 1]
        out.lateness += [max(0.0, b - a - INTERVAL) for a, b in itertools.pairwise(release)]
    scenario.drop_namespace(ns)
    return out


def rows_for(m: Measured, how: str) -> list[Row]:
    n = m.n
    label = f"{m.controller} N={n}"
    per_step = (lambda x: x / m.steps) if m.steps else (lambda x: None)
    notes = (f"{how}; window {m.seconds:.0f} s from the new revision on all {n} Canaries; {m.steps} steps; "
             f"{m.succeeded}/{n} Succeeded" + ("; " + "; ".join(m.notes) if m.notes else ""))
    rows = [
        Row(f"{label}: steps in window", float(m.steps), "steps",
            notes=f"expected ≈ {n * STEPS_PER_RELEASE}; {notes}"),
        Row(f"{label}: CPU-seconds per step", per_step(m.cpu), "CPU-s/step",
            notes=f"utime+stime delta of /proc/<pid>/stat ({m.cpu:.2f} CPU-s) / steps"),
        Row(f"{label}: RSS", m.rss_mb, "MB",
            target="≤ 150 MB at 1,000" if m.controller == "gitflagger" else "",
            notes=f"VmRSS at window end; peak VmHWM {m.peak_mb:.1f} MB; {m.rss_mb / n:.2f} MB per Canary"),
    ]
    if m.requests is not None:
        mine = m.controller == "gitflagger"
        rows.append(Row(f"{label}: API requests per step", per_step(float(m.requests)), "req/step",
                        target="≤ 4" if mine else "",
                        met=at_most(per_step(float(m.requests)), 4.0) if mine else None,
                        notes=f"{m.requests} requests counted at the client "
                              f"(KubeCluster.requests_made) / steps; {m.requests / m.seconds:.0f} req/s "
                              f"over the window against the client limit --qps {QPS}"))
    if m.lateness:
        p50, p99 = percentile(m.lateness, 50), percentile(m.lateness, 99)
        rows.append(Row(f"{label}: step lateness p99", p99, "s", target="≤ 5 s", met=at_most(p99, 5.0),
                        notes=f"p50 {p50:.1f} s, max {max(m.lateness):.1f} s over {len(m.lateness)} gaps: "
                              f"consecutive step commit times per Canary minus the {INTERVAL} s interval "
                              f"(1 s resolution)"))
    return rows


_LAST: dict[int, Measured] = {}
"""gitflagger's figures per N from this process's run, for item 6's ratios."""


def run(quick: bool) -> list[Row]:
    if quick:
        return [Row("controller at scale", None, "", notes="not in --quick (needs the testbed, minutes)")]
    ok, why = runnable()
    if not ok:
        return [Row("controller at scale", None, "", notes=f"not runnable: {why}")]
    rows: list[Row] = []
    work = WORKDIR / time.strftime("%Y%m%d-%H%M%S")
    work.mkdir(parents=True, exist_ok=True)
    scenario = shared_scenario(work)
    for n in FULL_N:
        try:
            m = run_gitflagger(scenario, n, work)
        except Exception as err:
            rows.append(Row(f"gitflagger N={n}", None, "", notes="error",
                            error=f"{type(err).__name__}: {err}"))
            continue
        _LAST[n] = m
        rows += rows_for(m, "gitflagger run (child process, --qps 100 --burst 250, local bare repo), "
                            "Canaries without metrics or webhooks (stepWeight only), "
                            "no mesh simulator/Prometheus")
    rows.append(Row("controller at N=300 and N=1,000", None, "", notes=NOT_RUN))
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
    import gitflagger.cli.run as run_module
    from gitflagger.cli.main import cli

    made: list[Any] = []
    connect = run_module.connect

    def counting_connect(opts: dict[str, Any]) -> Any:
        kube = connect(opts)
        made.append(kube)
        return kube

    run_module.connect = counting_connect

    def dump() -> None:
        while True:
            if made:
                tmp = counter.with_suffix(".tmp")
                tmp.write_text(str(made[0].requests_made))
                tmp.replace(counter)
            time.sleep(0.5)

    threading.Thread(target=dump, daemon=True).start()
    cli.main(args=argv, standalone_mode=True)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "child" and sys.argv[3] == "--":
        child(Path(sys.argv[2]), sys.argv[4:])
    else:
        print(json.dumps({"usage": "python -m tests.bench.controller_scale child COUNTER -- run ARGS"}))
