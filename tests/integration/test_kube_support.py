"""Builders and helpers shared by the ``test_kube_*`` modules; no tests of its own.

Objects are plain dicts shaped like the ones render produces, so the tests
read like the manifests gitflagger really applies.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from gitflagger.adapters.kube import KubeCluster

T = TypeVar("T")
IMAGE = "ghcr.io/stefanprodan/podinfo"
CRD_API = "apiextensions.k8s.io/v1"
CANARY_CRD_NAME = "canaries.flagger.app"
MINIMAL_CANARY_CRD: dict[str, Any] = {
    "apiVersion": CRD_API,
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CANARY_CRD_NAME},
    "spec": {
        "group": "flagger.app",
        "scope": "Namespaced",
        "names": {"plural": "canaries", "singular": "canary", "kind": "Canary", "listKind": "CanaryList"},
        "versions": [
            {
                "name": version,
                "served": True,
                "storage": version == "v1beta1",
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
            for version in ("v1beta1", "v1alpha3")
        ],
    },
}


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90.0) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def ensure_canary_crd(kube: KubeCluster) -> None:
    """Make sure the Canary CRD exists: deploy/crds' (the testbed installs it) or a minimal stand-in."""
    if kube.get(CRD_API, "CustomResourceDefinition", "", CANARY_CRD_NAME) is None:
        kube.apply([MINIMAL_CANARY_CRD])

    def established() -> bool:
        crd = kube.get(CRD_API, "CustomResourceDefinition", "", CANARY_CRD_NAME) or {}
        conditions = crd.get("status", {}).get("conditions", [])
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    wait_for("the Canary CRD to be established", established)


def canary(ns: str, name: str = "podinfo") -> dict[str, Any]:
    """A small valid Canary (as the seed tutorial's, with fewer fields)."""
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
        },
    }


def create(kube: KubeCluster, obj: dict[str, Any]) -> dict[str, Any]:
    """POST ``obj`` (a plain create, as a user's ``kubectl create`` would); return what the server stored."""
    resource = kube.resources.resolve(obj["apiVersion"], obj["kind"])
    ns = obj["metadata"].get("namespace", "")
    return kube.transport.request(
        "POST", resource.path(ns), body=obj, content_type="application/json", what=f"create {obj['kind']}"
    )


def deployment(
    ns: str, name: str, *, image: str = f"{IMAGE}:6.0.0", replicas: int | None = 1
) -> dict[str, Any]:
    labels = {"app": name}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": labels},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": labels},
            "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 9898}]}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def service(ns: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 9898, "targetPort": 9898}]},
    }


def config_map(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns},
        "data": data,
    }


def hpa(ns: str, name: str, target: str, min_replicas: int) -> dict[str, Any]:
    cpu = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": min_replicas,
            "maxReplicas": min_replicas + 2,
            "metrics": [{"type": "Resource", "resource": cpu}],
        },
    }


def routing(ns: str, name: str, primary: int, canary: int) -> list[dict[str, Any]]:
    """What render makes for Istio: a weighted VirtualService ``name`` and two DestinationRules."""
    rules = [
        {
            "apiVersion": "networking.istio.io/v1beta1",
            "kind": "DestinationRule",
            "metadata": {"name": host, "namespace": ns},
            "spec": {"host": host},
        }
        for host in (f"{name}-canary", f"{name}-primary")
    ]
    route = [
        {"destination": {"host": f"{name}-primary"}, "weight": primary},
        {"destination": {"host": f"{name}-canary"}, "weight": canary},
    ]
    virtual_service = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hosts": [name], "gateways": ["mesh"], "http": [{"route": route}]},
    }
    return [virtual_service, *rules]


def raw(kube: KubeCluster, path: str) -> dict[str, Any]:
    """An object with its managedFields, straight from the API."""
    return kube.transport.request("GET", path, what=f"get {path}")


def appliers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The managedFields entries of server-side appliers, by manager."""
    entries = obj["metadata"].get("managedFields") or ()
    return {e["manager"]: e for e in entries if e.get("operation") == "Apply"}
