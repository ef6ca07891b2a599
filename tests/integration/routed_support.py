"""Helpers for ``test_routed_rollouts.py``: one Canary stepped pass by pass, its routed traffic read back.

The controller's pass function runs as in ``test_analysis_e2e.py``
(:class:`~tests.integration.analysis_support.Passes`). Before each pass the
helper waits until the mesh simulator routes by the live VirtualService, and,
when that routing (or a direct caller) sends anything to the canary, until
Prometheus has scraped fresh canary traffic; then it takes a snapshot of the
simulator's ledger. Between two snapshots the VirtualService did not change
except for the pass itself (which the simulator sees within a second), so
the difference between two snapshots taken under the same routing table is
traffic routed by that table alone: :func:`routed_under` adds those up.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from gitflagger.adapters.kube import KubeCluster
from tests.integration.analysis_support import Passes, fresh, served, status
from tests.integration.controller_support import wait_for
from tests.testbed.istio_routing import HttpRoute, parse_http
from tests.testbed.loadgen import Ledger
from tests.testbed.meshsim import MeshSim, Route

APP = "podinfo"
CANARY_SERVICE = f"{APP}-canary"
VIRTUAL_SERVICE = ("networking.istio.io/v1beta1", "VirtualService")


@dataclass(frozen=True)
class Snapshot:
    phase: str
    table: tuple[HttpRoute, ...]
    ledger: Ledger


@dataclass
class Rollout:
    """The Canary ``podinfo`` of one namespace, its controller passes and what the mesh routed."""

    kube: KubeCluster
    namespace: str
    passes: Passes
    meshsim: MeshSim
    snapshots: list[Snapshot] = field(default_factory=list)

    def route(self) -> Route | None:
        return next((r for r in self.meshsim.routes() if r.namespace == self.namespace), None)

    def live_table(self) -> tuple[HttpRoute, ...] | None:
        vs = self.kube.get(*VIRTUAL_SERVICE, self.namespace, APP)
        return parse_http((vs.get("spec") or {}).get("http") or ()) if vs else None

    def caught_up(self) -> tuple[HttpRoute, ...] | None:
        """The table, once the simulator routes by what is live (None until then)."""
        live, route = self.live_table(), self.route()
        if live is None or route is None or route.error:
            return None
        return live if route.http == live else None

    def canary_gets_traffic(self, table: tuple[HttpRoute, ...]) -> bool:
        route = self.route()
        direct = CANARY_SERVICE in self.meshsim.profile(self.namespace).direct
        canary_live = route is not None and route.workload_for(CANARY_SERVICE) is not None
        routed = any((t.host == CANARY_SERVICE and t.weight > 0) for r in table for t in r.targets)
        mirrored = any(r.mirror == CANARY_SERVICE for r in table)
        return canary_live and (routed or mirrored or direct)

    def snapshot(self) -> None:
        table = wait_for("the mesh to route by the live VirtualService", self.caught_up, 60, 0.3)
        if self.canary_gets_traffic(table):
            since = self.passes._served.get(APP, 0.0)
            wait_for("fresh canary traffic in Prometheus",
                     lambda: fresh(self.passes.prometheus, self.namespace, APP, since), 90)
        self.snapshots.append(Snapshot(str(status(self.kube, self.namespace, APP).get("phase", "")), table,
                                       self.meshsim.ledger(self.namespace)))

    def step(self) -> str:
        """One pass, once the world is ready for it; returns the phase after it."""
        self.passes.one(before=self.snapshot)
        return str(status(self.kube, self.namespace, APP).get("phase", ""))

    def measured_as_routed(self) -> float:
        """Once the canary gets no more traffic, Prometheus' count of its requests is exactly what the
        mesh routed to it (user answers, mirror copies and direct calls); returns that count."""
        def routed() -> float:
            led = self.meshsim.ledger(self.namespace)
            return float(led.to(APP) + led.mirrored[APP] + led.direct[APP])

        def agreed() -> float | None:
            want = routed()
            return want if want > 0 and served(self.passes.prometheus, self.namespace, APP) == want else None

        return wait_for("Prometheus to count exactly what the mesh routed to the canary", agreed, 60, 1)

    def until(self, *phases: str, limit: int = 16) -> str:
        for _ in range(limit):
            phase = self.step()
            if phase in phases:
                return phase
        raise AssertionError(f"never reached {phases}: {self.passes.subjects()}")


@dataclass
class Routed:
    """Traffic routed under some tables: user answers by (kind, workload), mirror copies, direct calls."""

    answered: Counter[tuple[str, str]] = field(default_factory=Counter)
    mirrored: Counter[str] = field(default_factory=Counter)
    direct: Counter[str] = field(default_factory=Counter)
    held: dict[tuple[int, str], Counter[str]] = field(default_factory=dict)
    """(user index, cookie name) → answering workloads while the user held that mesh cookie."""

    def to(self, workload: str, kind: str | None = None) -> int:
        return sum(n for (k, w), n in self.answered.items() if w == workload and kind in (None, k))


def routed_under(snapshots: list[Snapshot], which: Callable[[tuple[HttpRoute, ...]], bool]) -> Routed:
    """Traffic between consecutive snapshots taken under one and the same table that ``which`` accepts."""
    out = Routed()
    for a, b in itertools.pairwise(snapshots):
        if a.table != b.table or not which(a.table):
            continue
        out.answered.update(b.ledger.answered - a.ledger.answered)
        out.mirrored.update(b.ledger.mirrored - a.ledger.mirrored)
        out.direct.update(b.ledger.direct - a.ledger.direct)
        before = {u.index: u.held for u in a.ledger.users}
        for user in b.ledger.users:
            for (cookie, workload), n in (user.held - before.get(user.index, Counter())).items():
                out.held.setdefault((user.index, cookie), Counter())[workload] += n
    return out


def weights(table: tuple[HttpRoute, ...], route: int = -1) -> dict[str, int]:
    return {t.host: t.weight for t in table[route].targets}
