"""The podinfo fixtures in an in-memory cluster, with a loopback Prometheus and webhook server.

A :class:`World` is what engine tests drive: ``world.step()`` runs one
reconcile of the Canary as the controller would (reading the Canary back from
the fake cluster each time), at a clock that advances one analysis interval per
step. Metric values come from a real HTTP server speaking Prometheus' query
API, so the engine's metric path is exercised as it runs in production.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import GitRecorder
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.engine.reconcile import ApplyMode, CanaryMemory, Context, StepOutcome, reconcile_one
from gitflagger.engine.telemetry import Telemetry
from tests.unit.adapters.loopback import LoopbackServer, Reply, Request
from tests.unit.engine.fake_cluster import FakeCluster

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "fixtures" / "podinfo"
START = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def podinfo_docs() -> dict[str, dict[str, Any]]:
    docs = load_documents([FIXTURES / n for n in ("deployment.yaml", "hpa.yaml", "canary.yaml")])
    return {str(d["kind"]): d for d in docs}


def vector(value: float | None) -> dict[str, Any]:
    result = [] if value is None else [{"metric": {}, "value": [1700000000.0, str(value)]}]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


@dataclass
class Metrics:
    """What the loopback Prometheus answers: ``None`` is "no values"."""

    success_rate: float | None = 99.9
    duration_ms: float | None = 120.0
    queries: list[str] = field(default_factory=list)
    online: bool = True
    """False: every query is answered 503, the providers' online check included."""

    def reply(self, request: Request) -> Reply:
        query = request.query.get("query", [""])[0]
        if not self.online:
            self.queries.append(query)
            return Reply(503, "Service Unavailable")
        if query == "vector(1)":  # the providers' online check, as Prometheus answers it
            return Reply(body=vector(1))
        self.queries.append(query)
        value = self.duration_ms if "histogram_quantile" in query else self.success_rate
        return Reply(body=vector(value))


class World:
    def __init__(self, tmp_path: Path, prometheus: LoopbackServer, hooks: LoopbackServer, **ctx: Any) -> None:
        docs = podinfo_docs()
        canary = copy.deepcopy(docs["Canary"])
        for hook in canary["spec"]["canaryAnalysis"]["webhooks"]:
            hook["url"] = hooks.url + "/" + hook["name"]
        self.cluster = FakeCluster(docs["Deployment"], docs["HorizontalPodAutoscaler"], canary)
        self.metrics = Metrics()
        prometheus.respond_with(self.metrics.reply)
        self.hooks = hooks
        self.repo_path = tmp_path / "config.git"
        self.recorder = GitRecorder(self.repo_path)
        self.now = START
        self.ctx = Context(
            cluster=self.cluster,
            recorder=self.recorder,
            metrics_server=prometheus.url,
            telemetry=Telemetry(),
            intents=IntentStore(self.recorder.repo),
            clock=lambda: self.now,
            **ctx,
        )
        self.memory = CanaryMemory()
        """What the controller would remember of the Canary between steps (drift, announced errors)."""

    @property
    def canary(self) -> dict[str, Any]:
        return self.cluster.obj("Canary", "podinfo")

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.canary.get("status") or {})

    def step(self) -> StepOutcome:
        outcome = reconcile_one(self.ctx, copy.deepcopy(self.canary), self.memory)
        self.recorder.flush()
        self.now += timedelta(minutes=1)
        return outcome

    def steps(self, count: int) -> list[StepOutcome]:
        return [self.step() for _ in range(count)]

    def until(self, phase: str, limit: int = 30) -> list[StepOutcome]:
        out = []
        for _ in range(limit):
            out.append(self.step())
            if self.status.get("phase") == phase:
                return out
        raise AssertionError(f"never reached {phase}: {[o.decision and o.decision.subject for o in out]}")

    def set_image(self, tag: str) -> None:
        target = self.cluster.obj("Deployment", "podinfo")
        target["spec"]["template"]["spec"]["containers"][0]["image"] = f"ghcr.io/stefanprodan/podinfo:{tag}"
        target["metadata"]["generation"] += 1

    def initialized(self) -> None:
        self.until("Initialized")

    def commits(self) -> Iterator[pygit2.Commit]:
        repo = pygit2.Repository(str(self.repo_path))
        ref = repo.references.get("refs/heads/main")
        return iter(repo.walk(ref.peel(pygit2.Commit).id)) if ref is not None else iter(())

    def subjects(self) -> list[str]:
        return [c.message.split("\n", 1)[0] for c in self.commits()][::-1]


__all__ = ["ApplyMode", "Metrics", "World"]
