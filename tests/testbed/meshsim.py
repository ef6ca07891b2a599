"""Mesh simulator: Istio-standard request metrics for traffic split by route weights.

It stands in for Envoy sidecars. Every tick it sends ``rate * dt`` simulated
requests per routed host (a VirtualService or a Gateway API HTTPRoute), splits
them among destinations by weight and records them as a destination-side
reporter would (Istio's metric names whichever object routes, so one set of
queries measures both):

- ``istio_requests_total`` (counter)
- ``istio_request_duration_milliseconds`` (histogram with Istio's buckets:
  series ``_bucket``/``_sum``/``_count``)

with ``reporter="destination"``, ``source_workload``, ``source_workload_namespace``,
``destination_workload``, ``destination_workload_namespace``, ``destination_service``,
``destination_service_name``, ``destination_service_namespace``,
``request_protocol="http"``, ``response_code`` and ``connection_security_policy``.

Each destination workload behaves according to the fault spec of its container
image (``Fault``). Generation is deterministic: request counts, the share of 500s
and the latency samples come from accumulators and a low-discrepancy sequence, so
Prometheus' ``rate()`` ratios and ``histogram_quantile(0.99, ...)`` land close
to the spec (p99 within a few percent) on every run.

Routes come from a pluggable source: ``StaticRoutes`` (``set_routes`` from
Python, for unit tests) or ``KubeRoutes`` (VirtualServices or HTTPRoutes +
Services + Deployments of a cluster, polled every second).

Faults YAML (``--faults``)::

    rate: 50                 # simulated requests/s per routed host (optional)
    default:                 # for images not listed (optional; healthy by default)
      error_rate: 0.0
      latency_ms: 20         # median latency
      p99_latency_ms: 80     # 99th percentile latency
    images:                  # exact container image -> fault spec; omitted fields use the defaults above
      ghcr.io/stefanprodan/podinfo:6.0.1: {}
      ghcr.io/stefanprodan/podinfo:6.0.2: {error_rate: 0.3}
      ghcr.io/stefanprodan/podinfo:6.0.3: {p99_latency_ms: 1500}

CLI (for the demo)::

    python -m tests.testbed.meshsim --kubeconfig K --port P --faults faults.yaml
"""

from __future__ import annotations

import argparse
import bisect
import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol
from wsgiref.simple_server import WSGIServer

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from ruamel.yaml import YAML

# Istio's default buckets for istio_request_duration_milliseconds.
ISTIO_BUCKETS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
    300000, 600000, 1800000, 3600000,
)
LABELS = (
    "reporter", "source_workload", "source_workload_namespace", "destination_workload",
    "destination_workload_namespace", "destination_service", "destination_service_name",
    "destination_service_namespace", "request_protocol", "response_code", "connection_security_policy",
)
GOLDEN = (math.sqrt(5) - 1) / 2


@dataclass(frozen=True)
class Fault:
    """How a workload behaves: share of 500s, median and 99th-percentile latency (ms)."""

    error_rate: float = 0.0
    latency_ms: float = 20.0
    p99_latency_ms: float = 80.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within [0, 1], got {self.error_rate}")
        if self.latency_ms <= 0 or self.p99_latency_ms <= 0:
            raise ValueError("latencies must be positive")


HEALTHY = Fault()
PODINFO = "ghcr.io/stefanprodan/podinfo"
# The testbed's scripted releases: a good one, one failing 30% of requests, a slow one.
PODINFO_FAULTS: dict[str, Fault] = {
    f"{PODINFO}:6.0.1": HEALTHY,
    f"{PODINFO}:6.0.2": Fault(error_rate=0.3),
    f"{PODINFO}:6.0.3": Fault(p99_latency_ms=1500.0),
}


@dataclass(frozen=True)
class Destination:
    workload: str
    service: str  # the Service name the route points at, e.g. podinfo-canary
    image: str
    weight: int


@dataclass(frozen=True)
class Route:
    """The weighted destinations of one host (http[0] of a VirtualService)."""

    namespace: str
    host: str
    destinations: tuple[Destination, ...]


class RouteSource(Protocol):
    def routes(self) -> Sequence[Route]: ...


class StaticRoutes:
    """Routes set from Python."""

    def __init__(self) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._lock = threading.Lock()

    def set_routes(
        self, namespace: str, host: str, weights: Mapping[str, int], images: Mapping[str, str] | None = None
    ) -> None:
        """Route ``host`` in ``namespace`` to workloads by weight; ``images`` picks their fault specs."""
        images = images or {}
        dests = tuple(
            Destination(workload=w, service=w, image=images.get(w, ""), weight=int(weight))
            for w, weight in weights.items()
        )
        with self._lock:
            self._routes[(namespace, host)] = Route(namespace, host, dests)

    def remove_routes(self, namespace: str, host: str) -> None:
        with self._lock:
            self._routes.pop((namespace, host), None)

    def routes(self) -> Sequence[Route]:
        with self._lock:
            return list(self._routes.values())


class LatencySampler:
    """Latencies whose bucketed histogram interpolates to the fault's p99.

    The CDF is piecewise linear between knots chosen so that Prometheus'
    linear interpolation inside the bucket holding p99 gives back p99 exactly:
    P(le=a) = F_a, P(le=b) = 0.999 for the bucket (a, b], the last 0.1% up to
    the next bucket bound, and the median at ``latency_ms``.
    """

    def __init__(self, fault: Fault, seed: int) -> None:
        q = max(fault.p99_latency_ms, ISTIO_BUCKETS[0] * 1.01)
        i = bisect.bisect_left(ISTIO_BUCKETS, q)  # ISTIO_BUCKETS[i-1] < q <= ISTIO_BUCKETS[i]
        i = min(i, len(ISTIO_BUCKETS) - 2)
        a = ISTIO_BUCKETS[i - 1] if i > 0 else 0.0
        b, c = ISTIO_BUCKETS[i], ISTIO_BUCKETS[i + 1]
        t = min((q - a) / (b - a), 0.98)  # keeps F_a >= 0.5 so the median fits below a
        f_b = 0.999
        f_a = (0.99 - f_b * t) / (1 - t)
        median = min(fault.latency_ms, a * 0.9) if a > 0 else (q - a) * 0.5
        lo = median * 0.25
        if a > 0:
            self.knots: list[tuple[float, float]] = [(lo, 0.0), (median, 0.5), (a, f_a), (b, f_b), (c, 1.0)]
        else:
            self.knots = [(0.0, 0.0), (b, f_b), (c, 1.0)]
        self._u = random.Random(seed).random()

    def next(self) -> float:
        self._u = (self._u + GOLDEN) % 1.0  # low-discrepancy: every window sees the whole CDF
        u = self._u
        for (x0, p0), (x1, p1) in zip(self.knots, self.knots[1:], strict=False):
            if u <= p1:
                return x0 + (x1 - x0) * ((u - p0) / (p1 - p0) if p1 > p0 else 0.0)
        return self.knots[-1][0]


@dataclass
class _DestState:
    requests: float = 0.0  # requests owed but not yet sent (fractional carry)
    sent: int = 0
    errors: int = 0
    sampler: LatencySampler | None = None
    fault: Fault = field(default_factory=Fault)


class MeshSim:
    """Serves ``/metrics`` on 127.0.0.1:``port`` and generates traffic for the routes of ``source``."""

    def __init__(
        self,
        source: RouteSource | None = None,
        faults: Mapping[str, Fault] | None = None,
        default_fault: Fault = HEALTHY,
        rate: float = 50.0,
        port: int = 0,
        tick: float = 0.2,
        poll_interval: float = 1.0,
        seed: int = 42,
        source_workload: str = "istio-ingressgateway",
        source_namespace: str = "istio-system",
    ) -> None:
        self.source: RouteSource = source if source is not None else StaticRoutes()
        self.faults = dict(faults or {})
        self.default_fault = default_fault
        self.rate = rate
        self.tick = tick
        self.poll_interval = poll_interval
        self.seed = seed
        self.source_workload = source_workload
        self.source_namespace = source_namespace
        self._requested_port = port
        self.port = 0
        self.registry = CollectorRegistry()
        self.requests_total = Counter(
            "istio_requests_total", "Simulated Istio request count", LABELS, registry=self.registry
        )
        self.duration = Histogram(
            "istio_request_duration_milliseconds", "Simulated Istio request duration",
            LABELS, buckets=ISTIO_BUCKETS, registry=self.registry,
        )
        self._routes: Sequence[Route] = []
        self._state: dict[tuple[str, str, str], _DestState] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: WSGIServer | None = None
        self.poll_errors = 0
        self.last_poll_error = ""
        self.listeners: list[Callable[[str, str, int, int], None]] = []
        """Called with ``(namespace, workload, requests, errors)`` per batch sent (feeds CloudWatch)."""

    # ---- public API ------------------------------------------------------

    @property
    def target(self) -> str:
        """``host:port`` for a Prometheus scrape config."""
        return f"127.0.0.1:{self.port}"

    def set_routes(
        self, namespace: str, host: str, weights: Mapping[str, int], images: Mapping[str, str] | None = None
    ) -> None:
        """Static weights (needs the default ``StaticRoutes`` source)."""
        if not isinstance(self.source, StaticRoutes):
            raise TypeError("set_routes needs a MeshSim built with StaticRoutes")
        self.source.set_routes(namespace, host, weights, images)
        self._refresh()

    def fault_for(self, image: str) -> Fault:
        return self.faults.get(image, self.default_fault)

    def routes(self) -> Sequence[Route]:
        """The routes the simulator currently sends traffic along."""
        return self._routes

    def start(self) -> MeshSim:
        server, thread = start_http_server(self._requested_port, addr="127.0.0.1", registry=self.registry)
        self._server = server
        self.port = int(server.server_port)
        self._threads = [thread]
        self._stop.clear()
        self._refresh()
        for target, name in ((self._poll_loop, "meshsim-poll"), (self._traffic_loop, "meshsim-traffic")):
            th = threading.Thread(target=target, name=name, daemon=True)
            th.start()
            self._threads.append(th)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for th in self._threads:
            th.join(timeout=10)
        self._threads = []

    def __enter__(self) -> MeshSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- internals -------------------------------------------------------

    def _refresh(self) -> None:
        try:
            self._routes = list(self.source.routes())
        except Exception as e:  # keep the last routes; a flaky apiserver must not kill traffic
            self.poll_errors += 1
            self.last_poll_error = f"{type(e).__name__}: {e}"

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self._refresh()

    def _traffic_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            self.generate(now - last)
            last = now

    def generate(self, dt: float) -> None:
        """Send ``rate * dt`` requests per routed host along the current routes."""
        for route in self._routes:
            total_weight = sum(max(d.weight, 0) for d in route.destinations)
            if total_weight <= 0:
                continue
            for dest in route.destinations:
                if dest.weight > 0:
                    self._send(route, dest, self.rate * dt * dest.weight / total_weight)

    def _send(self, route: Route, dest: Destination, owed: float) -> None:
        key = (route.namespace, dest.workload, dest.image)
        st = self._state.get(key)
        if st is None:
            fault = self.fault_for(dest.image)
            seed = zlib.crc32(repr((self.seed, *key)).encode())
            st = self._state[key] = _DestState(sampler=LatencySampler(fault, seed), fault=fault)
        st.requests += owed
        n = int(st.requests)
        if n <= 0:
            return
        st.requests -= n
        errors = math.floor((st.sent + n) * st.fault.error_rate + 1e-9) - st.errors
        st.sent += n
        st.errors += errors
        for listener in list(self.listeners):
            listener(route.namespace, dest.workload, n, errors)
        base = {
            "reporter": "destination",
            "source_workload": self.source_workload,
            "source_workload_namespace": self.source_namespace,
            "destination_workload": dest.workload,
            "destination_workload_namespace": route.namespace,
            "destination_service": f"{dest.service}.{route.namespace}.svc.cluster.local",
            "destination_service_name": dest.service,
            "destination_service_namespace": route.namespace,
            "request_protocol": "http",
            "connection_security_policy": "mutual_tls",
        }
        assert st.sampler is not None
        for code, count in (("500", errors), ("200", n - errors)):
            if count <= 0:
                continue
            labels = {**base, "response_code": code}
            self.requests_total.labels(**labels).inc(count)
            hist = self.duration.labels(**labels)
            for _ in range(count):
                hist.observe(st.sampler.next())


class KubeRoutes:
    """Routes read from a cluster: VirtualServices or HTTPRoutes, Services and Deployments.

    For each VirtualService, ``http[0].route[]`` gives destination hosts and
    weights; for each Gateway API HTTPRoute (``gateway.networking.k8s.io/v1``),
    ``rules[0].backendRefs[]`` gives Service names and weights (a missing
    weight is 1, as Gateway API defines it). A destination (``podinfo-canary``
    or an FQDN) names a Service; its workload is the Deployment with
    replicas > 0 whose pod labels match the Service selector (falling back to
    the name with ``-canary`` stripped), and the Deployment's first container
    image picks the fault spec. A kind whose CRD is not installed has no routes.
    """

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.apps = k8s.AppsV1Api(api_client)

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str) -> KubeRoutes:
        return cls(k8s_config.new_client_from_config(config_file=kubeconfig))  # type: ignore[no-untyped-call]

    def routes(self) -> Sequence[Route]:
        weighted = [*self._virtual_services(), *self._http_routes()]
        if not weighted:
            return []
        service_list: list[Any] = self.core.list_service_for_all_namespaces(_request_timeout=10).items
        services = {(s.metadata.namespace, s.metadata.name): s for s in service_list}
        deployments: list[Any] = self.apps.list_deployment_for_all_namespaces(_request_timeout=10).items
        live = {(d.metadata.namespace, d.metadata.name): d for d in deployments
                if (d.spec.replicas if d.spec.replicas is not None else 1) > 0}
        out = []
        for ns, host, entries in weighted:
            dests = []
            for svc_ns, svc_name, weight in entries:
                dep = self._workload(services.get((svc_ns, svc_name)), svc_ns, svc_name, live)
                if dep is None:
                    continue  # no running pods behind it: nothing reports as destination
                image = dep.spec.template.spec.containers[0].image
                dests.append(Destination(dep.metadata.name, svc_name, image, int(weight)))
            out.append(Route(ns, host, tuple(dests)))
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

    def _virtual_services(self) -> list[tuple[str, str, list[tuple[str, str, int]]]]:
        out = []
        for vs in self._list("networking.istio.io", "v1beta1", "virtualservices"):
            ns = vs["metadata"]["namespace"]
            spec = vs.get("spec") or {}
            http = spec.get("http") or []
            hosts = spec.get("hosts") or [vs["metadata"]["name"]]
            if not http:
                continue
            entries = http[0].get("route") or []
            dests = []
            for entry in entries:
                host = str((entry.get("destination") or {}).get("host", ""))
                svc_name, _, rest = host.partition(".")
                svc_ns = rest.split(".")[0] if rest else ns
                dests.append((svc_ns, svc_name, int(entry.get("weight", 100 if len(entries) == 1 else 0))))
            out.append((ns, str(hosts[0]), dests))
        return out

    def _http_routes(self) -> list[tuple[str, str, list[tuple[str, str, int]]]]:
        out = []
        for route in self._list("gateway.networking.k8s.io", "v1", "httproutes"):
            ns = route["metadata"]["namespace"]
            spec = route.get("spec") or {}
            rules = spec.get("rules") or []
            hosts = spec.get("hostnames") or [route["metadata"]["name"]]
            if not rules:
                continue
            dests = [
                (str(ref.get("namespace") or ns), str(ref.get("name", "")), int(ref.get("weight", 1)))
                for ref in rules[0].get("backendRefs") or ()
                if (ref.get("kind") or "Service") == "Service"
            ]
            out.append((ns, str(hosts[0]), dests))
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


# ---- faults file and CLI ---------------------------------------------------


def _fault_from(spec: Mapping[str, Any] | None, base: Fault) -> Fault:
    spec = dict(spec or {})
    known = {f.name for f in fields(Fault)}
    unknown = set(spec) - known
    if unknown:
        raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed: {sorted(known)}")
    return replace(base, **{k: float(v) for k, v in spec.items()})


def load_faults(path: str | Path) -> tuple[dict[str, Fault], Fault, float | None]:
    """Parse a faults YAML file: (faults by image, default fault, rate or None)."""
    doc = YAML(typ="safe").load(Path(path).read_text()) or {}
    default = _fault_from(doc.get("default"), HEALTHY)
    faults = {str(img): _fault_from(spec, default) for img, spec in (doc.get("images") or {}).items()}
    rate = doc.get("rate")
    return faults, default, float(rate) if rate is not None else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Istio mesh simulator for the gitflagger testbed")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", help="faults YAML (see module docstring)")
    parser.add_argument("--rate", type=float, help="requests/s per host (overrides the faults file)")
    args = parser.parse_args(argv)
    faults, default, rate = load_faults(args.faults) if args.faults else ({}, HEALTHY, None)
    sim = MeshSim(
        KubeRoutes.from_kubeconfig(args.kubeconfig), faults=faults, default_fault=default,
        rate=args.rate or rate or 50.0, port=args.port,
    ).start()
    print(f"meshsim: serving http://{sim.target}/metrics", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
