"""What the mesh simulator routes by: each host's routing table and the workloads behind its Services.

Two sources: :class:`StaticRoutes` (weights set from Python, for tests
without a cluster) and :class:`KubeRoutes` (a cluster's VirtualServices or
Gateway API HTTPRoutes, its Services and Deployments). A VirtualService's
whole ``spec.http`` is kept (matches, weights, mirror, response headers; see
:mod:`tests.testbed.istio_routing`); a VirtualService the simulator cannot
route by is kept with its ``error`` and carries no traffic.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from tests.testbed.istio_routing import HttpRoute, Target, UnsupportedRoute, parse_http


@dataclass(frozen=True)
class Destination:
    workload: str
    service: str  # the Service name the route points at, e.g. podinfo-canary
    image: str
    weight: int


@dataclass(frozen=True)
class Route:
    """One routed host: its routing table and the live workload behind each Service it names."""

    namespace: str
    host: str
    destinations: tuple[Destination, ...]
    """The first HTTP route's weighted destinations that have a workload (what older tests read)."""
    http: tuple[HttpRoute, ...] = ()
    services: Mapping[tuple[str, str], Destination] = field(default_factory=dict)
    """(namespace, Service name) → the workload answering for it (its ``weight`` is unused)."""
    error: str = ""
    """Why the host is not routed (a field the simulator cannot route by), or empty."""

    def workload_for(self, host: str) -> Destination | None:
        """The workload behind a destination host (``podinfo-canary`` or an FQDN)."""
        return self.services.get(service_key(host, self.namespace))


def service_key(host: str, namespace: str) -> tuple[str, str]:
    """``podinfo-canary`` or ``podinfo-canary.ns.svc.cluster.local`` → (namespace, Service name)."""
    name, _, rest = host.partition(".")
    return (rest.split(".")[0] if rest else namespace, name)


def weighted(namespace: str, http: tuple[HttpRoute, ...], services: Mapping[tuple[str, str], Destination]
             ) -> tuple[Destination, ...]:
    if not http:
        return ()
    out = []
    for target in http[0].targets:
        dest = services.get(service_key(target.host, namespace))
        if dest is not None:
            out.append(Destination(dest.workload, dest.service, dest.image, target.weight))
    return tuple(out)


class RouteSource(Protocol):
    def routes(self) -> Sequence[Route]: ...


class StaticRoutes:
    """Routes set from Python: one unmatched HTTP route split by weight."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._lock = threading.Lock()

    def set_routes(
        self, namespace: str, host: str, weights: Mapping[str, int], images: Mapping[str, str] | None = None
    ) -> None:
        """Route ``host`` in ``namespace`` to workloads by weight; ``images`` picks their fault specs."""
        images = images or {}
        services = {(namespace, w): Destination(w, w, images.get(w, ""), 0) for w in weights}
        http = (HttpRoute(0, (), tuple(Target(w, int(weight)) for w, weight in weights.items())),)
        with self._lock:
            self._routes[(namespace, host)] = Route(
                namespace, host, weighted(namespace, http, services), http, services)

    def set_http(
        self, namespace: str, host: str, http: Sequence[Any], workloads: Mapping[str, tuple[str, str]]
    ) -> None:
        """Route ``host`` by a VirtualService's ``spec.http``; ``workloads``: Service → (workload, image)."""
        services = {(namespace, s): Destination(w, s, image, 0) for s, (w, image) in workloads.items()}
        table = parse_http(http)
        with self._lock:
            self._routes[(namespace, host)] = Route(
                namespace, host, weighted(namespace, table, services), table, services)

    def remove_routes(self, namespace: str, host: str) -> None:
        with self._lock:
            self._routes.pop((namespace, host), None)

    def routes(self) -> Sequence[Route]:
        with self._lock:
            return list(self._routes.values())


class KubeRoutes:
    """Routes read from a cluster: VirtualServices or HTTPRoutes, Services and Deployments.

    A VirtualService contributes its whole ``spec.http``; a Gateway API
    HTTPRoute (``gateway.networking.k8s.io/v1``) its ``rules[0].backendRefs[]``
    as one weighted route (a missing weight is 1, as Gateway API defines it).
    A destination host (``podinfo-canary`` or an FQDN) names a Service; its
    workload is the Deployment with replicas > 0 whose pod labels match the
    Service selector (falling back to the name with ``-canary`` stripped), and
    the Deployment's first container image picks the fault spec. A Service
    with no such Deployment has no workload: requests routed to it get no
    answer (Envoy's "no healthy upstream"). A kind whose CRD is not installed
    has no routes.
    """

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.apps = k8s.AppsV1Api(api_client)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str) -> KubeRoutes:
        return cls(k8s_config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]

    def routes(self) -> Sequence[Route]:
        tables = [*self._virtual_services(), *self._http_routes()]
        if not tables:
            return []
        service_list: list[Any] = self.core.list_service_for_all_namespaces(_request_timeout=10).items
        services = {(s.metadata.namespace, s.metadata.name): s for s in service_list}
        deployments: list[Any] = self.apps.list_deployment_for_all_namespaces(_request_timeout=10).items
        live = {(d.metadata.namespace, d.metadata.name): d for d in deployments
                if (d.spec.replicas if d.spec.replicas is not None else 1) > 0}
        out = []
        for ns, host, http, error in tables:
            resolved: dict[tuple[str, str], Destination] = {}
            hosts = {t.host for r in http for t in r.targets} | {r.mirror for r in http if r.mirror}
            for target_host in hosts:
                key = service_key(target_host, ns)
                dep = self._workload(services.get(key), key[0], key[1], live)
                if dep is not None:
                    image = dep.spec.template.spec.containers[0].image
                    resolved[key] = Destination(dep.metadata.name, key[1], image, 0)
            out.append(Route(ns, host, weighted(ns, http, resolved), http, resolved, error))
        return out

    def _list(self, group: str, version: str, plural: str) -> list[dict[str, Any]]:
        try:
            listed: Any = self.custom.list_cluster_custom_object(group, version, plural, _request_timeout=10)
        except k8s.ApiException as err:
            if err.status == 404:  # the CRD is not installed
                return []
            raise
        items: list[dict[str, Any]] = listed["items"]
        return items

    def _virtual_services(self) -> list[tuple[str, str, tuple[HttpRoute, ...], str]]:
        out: list[tuple[str, str, tuple[HttpRoute, ...], str]] = []
        for vs in self._list("networking.istio.io", "v1beta1", "virtualservices"):
            ns, name = vs["metadata"]["namespace"], vs["metadata"]["name"]
            spec = vs.get("spec") or {}
            hosts = spec.get("hosts") or [name]
            if not spec.get("http"):
                continue
            try:
                http, error = parse_http(spec["http"]), ""
            except UnsupportedRoute as err:
                http, error = (), f"VirtualService {ns}/{name}: {err}"
            out.append((ns, str(hosts[0]), http, error))
        return out

    def _http_routes(self) -> list[tuple[str, str, tuple[HttpRoute, ...], str]]:
        out: list[tuple[str, str, tuple[HttpRoute, ...], str]] = []
        for route in self._list("gateway.networking.k8s.io", "v1", "httproutes"):
            ns = route["metadata"]["namespace"]
            spec = route.get("spec") or {}
            rules = spec.get("rules") or []
            hosts = spec.get("hostnames") or [route["metadata"]["name"]]
            if not rules:
                continue
            targets = tuple(
                Target(f"{ref.get('name', '')}.{ref.get('namespace') or ns}", int(ref.get("weight", 1)))
                for ref in rules[0].get("backendRefs") or ()
                if (ref.get("kind") or "Service") == "Service"
            )
            out.append((ns, str(hosts[0]), (HttpRoute(0, (), targets),) if targets else (), ""))
        return out

    @staticmethod
    def _workload(service: Any, ns: str, name: str, live: Mapping[tuple[str, str], Any]) -> Any:
        selector = (service.spec.selector or {}) if service is not None else {}
        if selector:
            matches = [d for (dns, _), d in live.items() if dns == ns and all(
                (d.spec.template.metadata.labels or {}).get(k) == v for k, v in selector.items())]
            if matches:
                return sorted(matches, key=lambda d: d.metadata.name != name)[0]
        for candidate in (name, name.removesuffix("-canary")):
            if (ns, candidate) in live:
                return live[(ns, candidate)]
        return None
