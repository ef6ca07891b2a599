"""Mesh simulator: simulated users' requests routed as the VirtualServices say, measured as Istio does.

It stands in for Envoy sidecars and the ingress gateway. Every tick it sends
``rate * dt`` requests per routed host (a VirtualService or a Gateway API
HTTPRoute) from simulated users (:mod:`tests.testbed.loadgen`: some carry the
A/B header or cookie, each keeps a browser's cookie jar). Each request is
routed by the host's whole routing table with Istio's rules
(:mod:`tests.testbed.istio_routing`: matches, weights, mirror, response
headers), answered by the workload behind the chosen Service, and recorded
as a destination-side reporter would, per workload that served it (a
mirrored copy counts for the mirror's workload; its answer is dropped and
the user gets the routed one):

- ``istio_requests_total`` (counter)
- ``istio_request_duration_milliseconds`` (histogram with Istio's buckets:
  series ``_bucket``/``_sum``/``_count``)

with ``reporter="destination"``, ``source_workload``, ``source_workload_namespace``,
``destination_workload``, ``destination_workload_namespace``, ``destination_service``,
``destination_service_name``, ``destination_service_namespace``,
``request_protocol="http"``, ``response_code`` and ``connection_security_policy``.
What each namespace's users got is kept in a :class:`~tests.testbed.loadgen.Ledger`
(:meth:`MeshSim.ledger`) for the tests to read.

Each destination workload behaves according to the fault spec of its container
image (``Fault``). Generation is deterministic: users are drawn from a seeded
generator, weighted choices and mirror decisions from an evenly spread
sequence per route (every 100 requests of a route hit each percent once), the
share of 500s and the latency samples from accumulators and a low-discrepancy
sequence, so Prometheus' ``rate()`` ratios and ``histogram_quantile(0.99, ...)``
land close to the spec (p99 within a few percent) on every run.

Routes come from a pluggable source (:mod:`tests.testbed.mesh_routes`):
``StaticRoutes`` (``set_routes`` from Python, for unit tests) or ``KubeRoutes``
(VirtualServices or HTTPRoutes + Services + Deployments of a cluster, polled
every second).

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
import copy
import math
import sys
import threading
import time
import zlib
from collections import Counter as Tally
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from tests.testbed.istio_routing import route_request
from tests.testbed.loadgen import DEFAULT_PROFILE, Ledger, LoadProfile, Users, kind_of
from tests.testbed.mesh_faults import (
    HEALTHY,
    ISTIO_BUCKETS,
    PODINFO,
    PODINFO_FAULTS,
    Fault,
    LatencySampler,
    load_faults,
)
from tests.testbed.mesh_routes import Destination, KubeRoutes, Route, RouteSource, StaticRoutes

__all__ = [
    "HEALTHY", "ISTIO_BUCKETS", "PODINFO", "PODINFO_FAULTS", "Destination", "Fault", "KubeRoutes",
    "LatencySampler", "LoadProfile", "MeshSim", "Route", "RouteSource", "StaticRoutes", "load_faults",
]

LABELS = (
    "reporter", "source_workload", "source_workload_namespace", "destination_workload",
    "destination_workload_namespace", "destination_service", "destination_service_name",
    "destination_service_namespace", "request_protocol", "response_code", "connection_security_policy",
)


SLOTS = 100
"""Weighted and mirror choices cycle through this many evenly spaced tickets per route."""
WEIGHT_STRIDE, MIRROR_STRIDE = 61, 37
"""Coprime with SLOTS, so each cycle visits every slot once, in a well-mixed order; two strides
so that the mirror decision does not follow the weighted choice."""


def _ticket(n: int, stride: int) -> float:
    """The ``n``-th ticket in [0, 1): every SLOTS consecutive tickets hit each 1/SLOTS slot once."""
    return ((n * stride) % SLOTS + 0.5) / SLOTS


@dataclass
class _DestState:
    sent: int = 0
    errors: int = 0
    sampler: LatencySampler | None = None
    fault: Fault = field(default_factory=Fault)


@dataclass
class _HostState:
    """One routed host's users, its fractional request carry and its ticket counters."""

    users: Users
    owed: float = 0.0
    draws: Tally[tuple[int, str]] = field(default_factory=Tally)

    def draw(self, route: int, purpose: str) -> float:
        n = self.draws[(route, purpose)]
        self.draws[(route, purpose)] = n + 1
        return _ticket(n, MIRROR_STRIDE if purpose == "mirror" else WEIGHT_STRIDE)


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
        self._hosts: dict[tuple[str, str], _HostState] = {}
        self._direct_owed: dict[str, float] = {}
        self._profiles: dict[str, LoadProfile] = {}
        self._ledgers: dict[str, Ledger] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: WSGIServer | None = None
        self.poll_errors = 0
        self.last_poll_error = ""
        self.route_errors: list[str] = []
        """Every VirtualService the simulator refused to route, with the field path (printed once)."""
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

    def set_profile(self, namespace: str, profile: LoadProfile) -> None:
        """Who calls ``namespace``'s hosts from now on (fresh users, empty cookie jars, a fresh ledger)."""
        with self._lock:
            self._profiles[namespace] = profile
            self._hosts = {k: v for k, v in self._hosts.items() if k[0] != namespace}
            self._ledgers.pop(namespace, None)

    def profile(self, namespace: str) -> LoadProfile:
        with self._lock:
            return self._profiles.get(namespace, DEFAULT_PROFILE)

    def forget(self, namespace: str) -> None:
        """Drop ``namespace``'s profile, users and ledger (a test's teardown)."""
        self.set_profile(namespace, DEFAULT_PROFILE)
        with self._lock:
            self._profiles.pop(namespace, None)

    def ledger(self, namespace: str) -> Ledger:
        """A copy of what ``namespace``'s traffic did so far, with its users' jars and answers."""
        with self._lock:
            out = copy.deepcopy(self._ledgers.get(namespace) or Ledger())
            out.users = [copy.deepcopy(u) for (ns, _), st in self._hosts.items() if ns == namespace
                         for u in st.users.users]
            return out

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
            return
        for route in self._routes:
            if route.error and route.error not in self.route_errors:
                # A host the simulator cannot route gets no traffic: say so once, never silently.
                self.route_errors.append(route.error)
                print(f"meshsim: not routing {route.host}: {route.error}", file=sys.stderr, flush=True)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_interval):
            self._refresh()

    def _traffic_loop(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick):
            now = time.monotonic()
            self.generate(now - last, now)
            last = now

    def generate(self, dt: float, now: float = 0.0) -> None:
        """Send ``rate * dt`` user requests per routed host, and each namespace's direct calls.

        ``now`` is the clock the users' cookie jars expire by.
        """
        served: Tally[tuple[str, Destination, bool]] = Tally()
        with self._lock:
            directs: dict[str, Route] = {}
            for route in self._routes:
                if route.http:
                    self._user_requests(route, dt, now, served)
                    directs.setdefault(route.namespace, route)
            for route in directs.values():
                self._direct_requests(route, dt, served)
        self._record(served)

    def _host(self, route: Route) -> _HostState:
        key = (route.namespace, route.host)
        st = self._hosts.get(key)
        if st is None:
            profile = self._profiles.get(route.namespace, DEFAULT_PROFILE)
            st = self._hosts[key] = _HostState(Users(profile, zlib.crc32(repr((self.seed, *key)).encode())))
        return st

    def _user_requests(
        self, route: Route, dt: float, now: float, served: Tally[tuple[str, Destination, bool]]
    ) -> None:
        st = self._host(route)
        ledger = self._ledgers.setdefault(route.namespace, Ledger())
        st.owed += self.rate * dt
        n = int(st.owed)
        st.owed -= n
        for _ in range(n):
            user, request = st.users.next(route.host, now)
            routed = route_request(route.http, request, st.draw)
            dest = route.workload_for(routed.host) if routed is not None else None
            if routed is None or dest is None:
                ledger.unanswered += 1  # no route, or no workload behind it: no destination reports
                continue
            served[(route.namespace, dest, self._fails(route.namespace, dest))] += 1
            ledger.answered[(kind_of(user, st.users.profile), dest.workload)] += 1
            st.users.answered(user, dest.workload, routed.response_headers, now)
            shadow = route.workload_for(routed.mirror) if routed.mirror else None
            if shadow is not None:  # the copy is served and measured; its answer goes nowhere
                served[(route.namespace, shadow, self._fails(route.namespace, shadow))] += 1
                ledger.mirrored[shadow.workload] += 1

    def _direct_requests(self, route: Route, dt: float, served: Tally[tuple[str, Destination, bool]]) -> None:
        profile = self._profiles.get(route.namespace, DEFAULT_PROFILE)
        if not profile.direct:
            return
        ns = route.namespace
        owed = self._direct_owed.get(ns, 0.0) + profile.direct_rate * dt
        n = int(owed)
        self._direct_owed[ns] = owed - n
        ledger = self._ledgers.setdefault(ns, Ledger())
        for service in profile.direct:
            dest = route.services.get((ns, service))
            if dest is None:
                ledger.unanswered += n
                continue
            for _ in range(n):
                served[(ns, dest, self._fails(ns, dest))] += 1
            ledger.direct[dest.workload] += n

    def _fails(self, namespace: str, dest: Destination) -> bool:
        """Whether the workload's next request fails: its error share is met exactly, request by request."""
        key = (namespace, dest.workload, dest.image)
        st = self._state.get(key)
        if st is None:
            fault = self.fault_for(dest.image)
            seed = zlib.crc32(repr((self.seed, *key)).encode())
            st = self._state[key] = _DestState(sampler=LatencySampler(fault, seed), fault=fault)
        st.sent += 1
        fails = math.floor(st.sent * st.fault.error_rate + 1e-9) > st.errors
        st.errors += fails
        return fails

    def _record(self, served: Tally[tuple[str, Destination, bool]]) -> None:
        """Export a tick's requests as the destination reporter would, and tell the listeners."""
        per_workload: Tally[tuple[str, str, bool]] = Tally()
        for (ns, dest, failed), count in served.items():
            labels = {
                "reporter": "destination",
                "source_workload": self.source_workload,
                "source_workload_namespace": self.source_namespace,
                "destination_workload": dest.workload,
                "destination_workload_namespace": ns,
                "destination_service": f"{dest.service}.{ns}.svc.cluster.local",
                "destination_service_name": dest.service,
                "destination_service_namespace": ns,
                "request_protocol": "http",
                "connection_security_policy": "mutual_tls",
                "response_code": "500" if failed else "200",
            }
            self.requests_total.labels(**labels).inc(count)
            hist = self.duration.labels(**labels)
            sampler = self._state[(ns, dest.workload, dest.image)].sampler
            assert sampler is not None
            for _ in range(count):
                hist.observe(sampler.next())
            per_workload[(ns, dest.workload, failed)] += count
        for ns, workload in sorted({(ns, w) for ns, w, _ in per_workload}):
            ok, bad = per_workload[(ns, workload, False)], per_workload[(ns, workload, True)]
            for listener in list(self.listeners):
                listener(ns, workload, ok + bad, bad)

# ---- CLI ---------------------------------------------------------------


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

