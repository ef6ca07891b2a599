"""Flagger under Flux, observed: who writes the VirtualService and the target, and is any of it in git?

``python -m tests.bench.flagger_gitops`` runs Flagger (the binary
:mod:`tests.bench.flagger_side_by_side` builds) on the testbed with Flux
applying the app from git, the way a team runs both: the Deployment (with
``replicas: 1``, as most manifests have) and the Canary live in ``apps/`` of a
repo on the testbed git server, one Kustomization (10 s interval) applies them.
A release is a commit of a new image plus a nudge. Flagger has no metrics to
check (its analysis then advances on the interval alone). After the rollout
ends it keeps watching for two of Flux's intervals.

Every 0.5 s it records the live VirtualService's weights and the managers and
operations in its ``managedFields``, and the target Deployment's
``spec.replicas`` and who last set it, and prints each change. At the end it
says which weights the route had that no commit holds, and writes the live
objects (with managedFields) to ``demo-out/flagger-gitops/``. The same facts
for gitflagger in git-only mode are in ``make demo-gitops``'s ``live/``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.bench import controller_scale, flagger_side_by_side
from tests.testbed.cluster import Cluster
from tests.testbed.flux import FLUX_NAMESPACE, Flux, commit_files
from tests.testbed.gitserver import GitServer

NS = "fg"
NAME = "podinfo"
INTERVAL = 5
WATCH_SECONDS = 180.0
AFTER = 25.0
OUT = Path("demo-out") / "flagger-gitops"


def app_files(tag: str) -> dict[str, str | None]:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}
    canary = controller_scale.canary_obj(NS, NAME, INTERVAL)
    canary["spec"]["analysis"].update(stepWeight=20, maxWeight=40)
    target = controller_scale.deployment(NS, NAME, tag)
    objects = {"namespace": namespace, "deployment": target, "canary": canary}
    return {f"apps/{kind}.yaml": yaml.safe_dump(obj, sort_keys=False) for kind, obj in objects.items()}


def managers(obj: dict[str, Any]) -> str:
    entries = obj["metadata"].get("managedFields", [])
    return ", ".join(sorted({f"{m['manager']}/{m['operation']}" for m in entries}))


def replicas_owner(obj: dict[str, Any]) -> str:
    owners = [f"{m['manager']}/{m['operation']}" for m in obj["metadata"].get("managedFields", [])
              if "f:replicas" in (m.get("fieldsV1") or {}).get("f:spec", {})]
    return ", ".join(owners) or "-"


def get(custom: Any, apps: Any, kind: str) -> dict[str, Any] | None:
    try:
        if kind == "vs":
            found: dict[str, Any] = custom.get_namespaced_custom_object(
                "networking.istio.io", "v1beta1", NS, "virtualservices", NAME)
        elif kind == "canary":
            found = custom.get_namespaced_custom_object("flagger.app", "v1beta1", NS, "canaries", NAME)
        else:
            # The API's own field names (managedFields, fieldsV1), as kubectl shows them.
            found = apps.api_client.sanitize_for_serialization(apps.read_namespaced_deployment(NAME, NS))
        return found
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def main() -> int:
    build = flagger_side_by_side.build(allow_build=True)
    if not build.ok:
        print(f"cannot build Flagger: {build.reason}", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="flagger-gitops-") as tmp:
        cluster = Cluster(Path(tmp) / "cluster").start()
        server = GitServer(root=Path(tmp) / "repos")
        server.start_http()
        flux = Flux(cluster)
        try:
            flux.start()
            repo = server.create_repo("config")
            head = commit_files(repo.path, app_files("6.0.0"), "app: podinfo 6.0.0 with a Canary")
            flux.git_source(FLUX_NAMESPACE, "config", repo.http, username=server.username,
                            password=server.password, interval="10s")
            flux.kustomization(FLUX_NAMESPACE, "apps", source="config", path="./apps", interval="10s")
            flux.wait_applied(FLUX_NAMESPACE, "apps", revision=head)
            args = [str(flagger_side_by_side.BINARY), "-kubeconfig", str(cluster.kubeconfig),
                    "-mesh-provider", "istio", "-metrics-server", "http://127.0.0.1:9", "-namespace", NS,
                    "-enable-leader-election=false", "-log-level", "info", "-port", "0"]
            with controller_scale.controller_process(args, OUT / "flagger.log") :
                observe(flux, repo.path, OUT)
        finally:
            flux.stop()
            server.close()
            cluster.stop()
    return 0


def observe(flux: Flux, repo: Path, out: Path) -> None:
    custom, apps = k8s_client.CustomObjectsApi(flux.api), k8s_client.AppsV1Api(flux.api)
    seen_weights: list[list[int]] = []
    last = ""
    released = False
    finished: float | None = None
    began = time.monotonic()
    while time.monotonic() - began < WATCH_SECONDS:
        vs, target, canary = get(custom, apps, "vs"), get(custom, apps, "deploy"), get(custom, apps, "canary")
        phase = ((canary or {}).get("status") or {}).get("phase", "-")
        weights = [int(r.get("weight", 0)) for r in vs["spec"]["http"][0]["route"]] if vs else []
        if weights and weights not in seen_weights:
            seen_weights.append(weights)
        target = target or {"metadata": {}}
        line = (f"canary {phase:12} route {weights} by [{managers(vs) if vs else '-'}]; target replicas "
                f"{target.get('spec', {}).get('replicas')} set by [{replicas_owner(target)}]")
        if line != last:
            print(f"{time.monotonic() - began:6.1f}s  {line}", flush=True)
            last = line
        if phase == "Initialized" and not released:
            commit_files(repo, app_files("6.0.1"), "app: release podinfo 6.0.1")
            flux.reconcile(FLUX_NAMESPACE, "config")
            released = True
            print(f"{time.monotonic() - began:6.1f}s  committed podinfo 6.0.1 and nudged Flux", flush=True)
        if released and phase in ("Succeeded", "Failed") and finished is None:
            finished = time.monotonic()
            print(f"{finished - began:6.1f}s  watching {AFTER:.0f} s more (Flux: every 10 s)", flush=True)
        if finished is not None and time.monotonic() - finished > AFTER:
            break
        time.sleep(0.5)
    committed = sum(1 for _ in _commits(repo))
    print(f"\nweights the live route had: {seen_weights}")
    print(f"commits on the remote: {committed}, none of them holds a VirtualService (Flagger writes it "
          "straight to the cluster)")
    for kind, name in (("vs", f"virtualservice-{NAME}"), ("deploy", f"deployment-{NAME}")):
        obj = get(custom, apps, kind)
        (out / f"{name}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
    print(f"live objects with managedFields: {out}/")


def _commits(repo: Path) -> Any:
    import pygit2

    git = pygit2.Repository(str(repo))
    return git.walk(git.references["refs/heads/main"].target)


if __name__ == "__main__":
    raise SystemExit(main())
