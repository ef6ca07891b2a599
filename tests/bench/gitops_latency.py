"""Git-only mode's step latency with Flux applying: from a step's commit to the live route matching it.

In ``--apply-mode git-only`` a step is live only once Flux has fetched the
commit and applied it. This row measures that part, on the testbed with the
real source-controller and kustomize-controller:

* N Canaries' VirtualServices live under one prefix of a config repo on the
  testbed git server (HTTP, basic auth), one Kustomization (``prune: true``)
  covering the prefix, as the README's setup recommends;
* each step commits one Canary's new weights (one commit per step, as
  gitflagger does), then sets ``reconcile.fluxcd.io/requestedAt`` on the
  GitRepository and on the Kustomization (what gitflagger's nudge does);
* the latency is from the commit to the moment the live VirtualService's
  ``http[0].route`` weights equal the committed ones (polled every 50 ms).

Steps run one after another, Canaries in turn, so each latency is one step's
own. gitflagger's decision, commit and push time are not included (the other
rows measure those); this is the time Flux adds.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.bench.harness import Row, at_most, percentile, remaining
from tests.testbed.cluster import Cluster, bin_dir
from tests.testbed.flux import CONTROLLERS, Flux, commit_files
from tests.testbed.gitserver import GitServer

NS = "gitops-bench"
PREFIX = "bench"
TARGET_P99 = 5.0
PLAN = ((10, 40), (100, 40))
"""(N Canaries, steps measured) per run."""
QUICK_PLAN = ((10, 10),)
STEP_TIMEOUT = 60.0


def virtualservice(name: str, canary_weight: int) -> str:
    return f"""apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: {name}
  namespace: {NS}
spec:
  hosts: [{name}]
  http:
  - route:
    - destination: {{host: {name}-primary}}
      weight: {100 - canary_weight}
    - destination: {{host: {name}-canary}}
      weight: {canary_weight}
"""


def path_of(name: str) -> str:
    return f"{PREFIX}/{NS}/{name}/virtualservice-{name}.yaml"


def live_weights(custom: Any, name: str) -> list[int] | None:
    try:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(
            "networking.istio.io", "v1beta1", NS, "virtualservices", name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return [int(r.get("weight", 0)) for r in obj["spec"]["http"][0]["route"]]


def measure(flux: Flux, server: GitServer, n: int, steps: int) -> list[float]:
    """Latencies (s) of ``steps`` steps over ``n`` Canaries, in a fresh repo and Kustomization."""
    run = f"{n}-{time.monotonic_ns() % 10**9}"  # fresh names: an earlier run's may still be pruning
    repo = server.create_repo(f"bench-{run}")
    names = [f"app-{i:03d}" for i in range(n)]
    head = commit_files(repo.path, {path_of(name): virtualservice(name, 0) for name in names}, "seed")
    source, kustomization = f"config-{run}", f"bench-{run}"
    flux.git_source(NS, source, repo.http, username=server.username, password=server.password)
    flux.kustomization(NS, kustomization, source=source, path=f"./{PREFIX}")
    flux.wait_applied(NS, kustomization, revision=head, timeout=300)
    custom = k8s_client.CustomObjectsApi(flux.api)
    latencies = []
    try:
        for step in range(steps):
            name = names[step % n]
            weight = 10 * (step // n % 5 + 1)
            commit_files(repo.path, {path_of(name): virtualservice(name, weight)}, f"{name}: weight {weight}")
            began = time.monotonic()
            flux.reconcile(NS, source)
            flux.reconcile(NS, kustomization, kind="Kustomization")
            want = [100 - weight, weight]
            while live_weights(custom, name) != want:
                if time.monotonic() - began > STEP_TIMEOUT:
                    raise TimeoutError(f"N={n} step {step}: {name} not at {want} after {STEP_TIMEOUT:.0f}s")
                time.sleep(0.05)
            latencies.append(time.monotonic() - began)
    finally:
        # Nothing left behind for the next N: no Kustomization, so nothing pruned by surprise.
        k8s_client.CustomObjectsApi(flux.api).delete_namespaced_custom_object(
            "kustomize.toolkit.fluxcd.io", "v1", NS, "kustomizations", kustomization)
    return latencies


def run(quick: bool) -> list[Row]:
    if not all((bin_dir() / c).is_file() for c in CONTROLLERS):
        return [Row("git-only step latency (Flux)", None, "s",
                    notes=f"Flux binaries missing in {bin_dir()} (make testbed-build)")]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as tmp:
        cluster = Cluster(Path(tmp) / "cluster").start()
        server = GitServer(root=Path(tmp) / "repos")
        server.start_http()
        flux = Flux(cluster, concurrent=4)
        try:
            flux.start()
            k8s_client.CoreV1Api(flux.api).create_namespace(
                k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=NS)))
            for n, steps in QUICK_PLAN if quick else PLAN:
                left = remaining()
                if left is not None and left < 120:
                    rows.append(Row(f"git-only step latency N={n}", None, "s",
                                    notes=f"not run: the bench budget has {left:.0f} s left"))
                    continue
                lat = measure(flux, server, n, steps)
                how = (f"{len(lat)} steps over {n} VirtualServices under one Kustomization; commit -> "
                       f"requestedAt on GitRepository and Kustomization -> live weights match; "
                       f"source-controller and kustomize-controller --concurrent={flux.concurrent}")
                p50, p99 = percentile(lat, 50), percentile(lat, 99)
                rows.append(Row(f"git-only step latency N={n}: p50", p50, "s", n=len(lat),
                                low=min(lat), high=max(lat), notes=how))
                rows.append(Row(f"git-only step latency N={n}: p99", p99, "s", target=f"≤ {TARGET_P99:g} s",
                                met=at_most(p99, TARGET_P99), n=len(lat), low=min(lat), high=max(lat),
                                notes=how))
        finally:
            flux.stop()
            server.close()
            cluster.stop()
    return rows
