"""Which URL serves a kind: ``(apiVersion, kind)`` → ``/apis/apps/v1/namespaces/test/deployments``.

The kinds gitflagger touches are listed in :data:`KNOWN` (the routing kinds
taken from the routers, :func:`~gitflagger.render.routers.route_kinds`), so the
common path needs no discovery request at all. Any other kind is looked up once in the
API server's discovery document for its group version and cached.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from urllib.parse import quote

from gitflagger.adapters.kube.errors import NotFound
from gitflagger.adapters.kube.transport import Transport
from gitflagger.render.routers import route_kinds

__all__ = ["KNOWN", "Resource", "ResourceMap"]

KNOWN: dict[tuple[str, str], tuple[str, bool]] = {
    # (group, kind): (plural, namespaced). The plural does not depend on the version.
    ("", "ConfigMap"): ("configmaps", True),
    ("", "Secret"): ("secrets", True),
    ("", "Service"): ("services", True),
    ("", "Pod"): ("pods", True),
    ("", "Event"): ("events", True),
    ("", "Namespace"): ("namespaces", False),
    ("apps", "Deployment"): ("deployments", True),
    ("apps", "ReplicaSet"): ("replicasets", True),
    ("apps", "DaemonSet"): ("daemonsets", True),
    ("keda.sh", "ScaledObject"): ("scaledobjects", True),
    ("autoscaling", "HorizontalPodAutoscaler"): ("horizontalpodautoscalers", True),
    ("coordination.k8s.io", "Lease"): ("leases", True),
    ("events.k8s.io", "Event"): ("events", True),
    ("flagger.app", "Canary"): ("canaries", True),
    ("flagger.app", "MetricTemplate"): ("metrictemplates", True),
    ("flagger.app", "AlertProvider"): ("alertproviders", True),
    **{(k.group, k.kind): (k.plural, True) for k in route_kinds()},
}


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class Resource:
    """A kind as served at one ``apiVersion``."""

    api_version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def label(self) -> str:
        """``deployments.apps``: the name kubectl and the API server's messages use."""
        group = _group(self.api_version)
        return f"{self.plural}.{group}" if group else self.plural

    def path(self, namespace: str = "", name: str = "", subresource: str = "") -> str:
        """The URL path of the collection, or of one object and its subresource."""
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name:
            base += f"/{quote(name, safe='')}"
            if subresource:
                base += f"/{subresource}"
        return base

    def describe(self, verb: str, namespace: str = "", name: str = "") -> str:
        """``get deployments.apps test/podinfo``: the request, named for error messages."""
        target = "/".join(p for p in (namespace if self.namespaced else "", name) if p)
        return f"{verb} {self.label}{' ' + target if target else ''}"


class ResourceMap:
    """Resolves kinds to :class:`Resource`; thread-safe, discovery results cached for the process."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._discovered: dict[str, dict[str, tuple[str, bool]]] = {}

    def resolve(self, api_version: str, kind: str) -> Resource:
        known = KNOWN.get((_group(api_version), kind))
        if known is not None:
            return Resource(api_version, kind, *known)
        with self._lock:
            kinds = self._discovered.get(api_version)
        if kinds is None:
            kinds = self._discover(api_version)
            with self._lock:
                self._discovered[api_version] = kinds
        if kind not in kinds:
            raise NotFound(f"the API server does not serve kind {kind} in {api_version}", status=404)
        return Resource(api_version, kind, *kinds[kind])

    def _discover(self, api_version: str) -> dict[str, tuple[str, bool]]:
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        doc = self._transport.request("GET", path, what=f"discover {api_version}")
        out: dict[str, tuple[str, bool]] = {}
        for res in doc.get("resources") or ():
            name = str(res.get("name", ""))
            if "/" not in name and res.get("kind"):  # skip subresources such as deployments/scale
                out[str(res["kind"])] = (name, bool(res.get("namespaced")))
        return out
