"""Render the charts with the testbed's helm, and deploy/ with its kubectl kustomize; no cluster.

helm and kubectl are built by tests/testbed/build.sh (cached), so these tests carry the
``testbed`` mark even though none of them starts a cluster.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.testbed.cluster import build

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "gitflagger"
LOADTESTER_CHART = REPO / "charts" / "loadtester"
DEPLOY = REPO / "deploy"
DEPLOY_REPO_URL = "https://git.example.com/platform/rollouts.git"
"""The --repo deploy/deployment.yaml ships with; the chart requires repo.url."""

HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
)
KEEP = "helm.sh/resource-policy"

Obj = dict[str, Any]


@functools.cache
def bin_dir() -> Path:
    return build()


def run(tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(bin_dir() / tool), *args], capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"{tool} {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def set_args(values: Mapping[str, Any]) -> list[str]:
    """``--set-json`` per top-level value: types survive (booleans, numbers, lists)."""
    return [a for key, value in values.items() for a in ("--set-json", f"{key}={json.dumps(value)}")]


def template(
    chart: Path, values: Mapping[str, Any], namespace: str = "gitflagger-system", release: str = "gitflagger"
) -> list[Obj]:
    out = run("helm", "template", release, str(chart), "-n", namespace, *set_args(values)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def template_error(chart: Path, values: Mapping[str, Any], namespace: str = "gitflagger-system") -> str:
    """The one error helm prints for ``values``; fails if the chart renders."""
    proc = run("helm", "template", "gitflagger", str(chart), "-n", namespace, *set_args(values), check=False)
    assert proc.returncode != 0, f"rendered although it should not: {values}"
    return "\n".join(line for line in proc.stderr.splitlines() if "symbolic link" not in line)


def kustomize(path: Path) -> list[Obj]:
    out = run("kubectl", "kustomize", str(path)).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_key(objects: list[Obj]) -> dict[tuple[str, str, str], Obj]:
    keyed = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}
    assert len(keyed) == len(objects), "two objects with the same kind, namespace and name"
    return keyed


def find(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    (obj,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return obj


def without_helm(obj: Obj) -> Obj:
    """``obj`` without Helm's labels and the CRDs' keep annotation."""
    obj = json.loads(json.dumps(obj))
    meta = obj["metadata"]
    for label in HELM_LABELS:
        meta.get("labels", {}).pop(label, None)
    meta.get("annotations", {}).pop(KEEP, None)
    for key in ("labels", "annotations"):
        if key in meta and not meta[key]:
            del meta[key]
    return obj


def controller_args(objects: list[Obj]) -> list[str]:
    container = find(objects, "Deployment", "gitflagger")["spec"]["template"]["spec"]["containers"][0]
    return list(container["args"])
