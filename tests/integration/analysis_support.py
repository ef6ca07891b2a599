"""Helpers for ``test_analysis_e2e.py``: several podinfo-like apps per namespace, one controller over them.

Each app is the tutorial's Deployment, HPA and a ``flagger.app/v1beta1`` Canary,
renamed (``good``, ``bad``, ...) so that several Canaries share one namespace and
one controller. :class:`Passes` drives the controller's own pass function
(:meth:`Controller.run_pass`, what ``gitflagger run --once`` runs) instead of
waiting out real intervals; before each pass it waits until the deployments are
rolled out and Prometheus has scraped fresh canary traffic for every Canary
under analysis, so every metric is judged on real data.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pygit2
from prometheus_client.parser import text_string_to_metric_families

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import GitRecorder, read_history
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.controller import Controller
from gitflagger.engine.reconcile import Context, StepOutcome
from gitflagger.engine.report import Reporting
from gitflagger.engine.telemetry import Telemetry, configure_logging
from gitflagger.model.canary import V1BETA1
from tests.integration.controller_support import IMAGE, ROOT, create, settled, wait_for
from tests.testbed.prometheus import Prometheus

TERMINAL = ("Succeeded", "Failed")


def app(
    namespace: str,
    name: str,
    *,
    metrics: Sequence[Mapping[str, Any]],
    webhooks: Sequence[Mapping[str, Any]] = (),
    alerts: Sequence[Mapping[str, Any]] = (),
    threshold: int = 2,
    step_weight: int = 25,
    max_weight: int = 50,
    metrics_server: str | None = None,
) -> list[dict[str, Any]]:
    """Deployment, HPA and v1beta1 Canary named ``name`` (label ``app: name``) in ``namespace``."""
    docs = load_documents([ROOT / "fixtures" / "podinfo" / n for n in ("deployment.yaml", "hpa.yaml")])
    deployment, hpa = (copy.deepcopy(d) for d in docs)
    for doc in (deployment, hpa):
        doc["metadata"].update(name=name, namespace=namespace)
    deployment["metadata"]["labels"] = {"app": name}
    deployment["spec"]["selector"]["matchLabels"] = {"app": name}
    deployment["spec"]["template"]["metadata"]["labels"] = {"app": name}
    hpa["spec"]["scaleTargetRef"]["name"] = name
    analysis: dict[str, Any] = {
        "interval": "10s",
        "threshold": threshold,
        "maxWeight": max_weight,
        "stepWeight": step_weight,
        "metrics": [dict(m) for m in metrics],
        "webhooks": [dict(w) for w in webhooks],
    }
    if alerts:
        analysis["alerts"] = [dict(a) for a in alerts]
    spec: dict[str, Any] = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "progressDeadlineSeconds": 120,
        "autoscalerRef": {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": name},
        "service": {
            "port": 9898,
            "trafficPolicy": {"tls": {"mode": "DISABLE"}},
            "hosts": [f"{name}.example.com"],
        },
        "analysis": analysis,
    }
    if metrics_server:
        spec["metricsServer"] = metrics_server
    canary = {
        "apiVersion": V1BETA1,
        "kind": "Canary",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return [deployment, hpa, canary]


BUILTINS: list[dict[str, Any]] = [
    {"name": "request-success-rate", "thresholdRange": {"min": 99}, "interval": "30s"},
    {"name": "request-duration", "thresholdRange": {"max": 500}, "interval": "30s"},
]
"""The tutorial's two built-in checks, on a 30s window."""


def metric_template(namespace: str, name: str, address: str, query: str) -> dict[str, Any]:
    return {
        "apiVersion": V1BETA1,
        "kind": "MetricTemplate",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"provider": {"type": "prometheus", "address": address}, "query": query},
    }


def custom(name: str, template: str, *, max_value: float = 1, **variables: str) -> dict[str, Any]:
    """An ``analysis.metrics`` entry using the MetricTemplate ``template``."""
    metric: dict[str, Any] = {
        "name": name,
        "templateRef": {"name": template},
        "thresholdRange": {"max": max_value},
        "interval": "30s",
    }
    if variables:
        metric["templateVariables"] = dict(variables)
    return metric


def hook(url: str, *, name: str = "load-test", timeout: str = "5s", cmd: str = "") -> dict[str, Any]:
    """A ``rollout`` webhook (Flagger's default type) with the load tester's ``metadata.cmd``."""
    out: dict[str, Any] = {"name": name, "url": url, "timeout": timeout}
    if cmd:
        out["metadata"] = {"cmd": cmd}
    return out


def set_image(kube: KubeCluster, namespace: str, name: str, tag: str) -> None:
    """``kubectl set image deployment/NAME podinfod=…:tag``."""
    resource = kube.resources.resolve("apps/v1", "Deployment")
    patch = {
        "spec": {"template": {"spec": {"containers": [{"name": "podinfod", "image": f"{IMAGE}:{tag}"}]}}}
    }
    kube.transport.request(
        "PATCH",
        resource.path(namespace) + f"/{name}",
        body=patch,
        content_type="application/strategic-merge-patch+json",
        what="set image",
    )


def status(kube: KubeCluster, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get(V1BETA1, "Canary", namespace, name)
    assert obj is not None, f"Canary {namespace}/{name} is gone"
    return dict(obj.get("status") or {})


def phase(kube: KubeCluster, namespace: str, name: str) -> str:
    return str(status(kube, namespace, name).get("phase", ""))


def canary_events(kube: KubeCluster, namespace: str, name: str) -> list[tuple[str, str]]:
    """``(type, message)`` of one Canary's Events, oldest first, once per occurrence."""
    items = [
        e
        for e in kube.list_objects("v1", "Event", namespace)
        if (e.get("involvedObject") or {}).get("kind") == "Canary"
        and (e.get("involvedObject") or {}).get("name") == name
    ]
    items.sort(key=lambda e: (e.get("firstTimestamp") or e.get("eventTime") or "", e["metadata"]["name"]))
    # The event recorder folds a repeated message into one Event (its ``count``): unfold it.
    return [
        (str(e.get("type")), str(e.get("message"))) for e in items for _ in range(int(e.get("count") or 1))
    ]


def primary_image(kube: KubeCluster, namespace: str, name: str) -> str:
    primary = kube.get("apps/v1", "Deployment", namespace, f"{name}-primary")
    assert primary is not None
    return str(primary["spec"]["template"]["spec"]["containers"][0]["image"])


def served(prometheus: Prometheus, namespace: str, workload: str) -> float:
    """Requests ``workload`` has served so far, as Prometheus last scraped them (0: none yet)."""
    return (
        prometheus.query_value(
            f'sum(istio_requests_total{{destination_workload_namespace="{namespace}",'
            f'destination_workload="{workload}"}})'
        )
        or 0.0
    )


def fresh(prometheus: Prometheus, namespace: str, workload: str, since: float) -> bool:
    """``workload`` served 40 more requests than ``since``, and over enough scrapes for ``rate()``."""
    rate = prometheus.query_value(
        f'sum(rate(istio_requests_total{{destination_workload_namespace="{namespace}",'
        f'destination_workload="{workload}"}}[30s]))'
    )
    return rate is not None and served(prometheus, namespace, workload) >= since + 40


def commit_messages(repo: Path, namespace: str, name: str) -> list[str]:
    """Full commit messages of one Canary's recorded steps, oldest first."""
    r = pygit2.Repository(str(repo))
    return [
        r.revparse_single(h.commit).peel(pygit2.Commit).message
        for h in read_history(repo, f"{namespace}/{name}")
    ][::-1]


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """``/metrics`` parsed: ``(sample name, labels)`` → value."""
    import requests

    text = requests.get(url, timeout=10).text
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def sample(
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float], metric: str, /, **labels: str
) -> float:
    key = (metric, frozenset(labels.items()))
    assert key in samples, f"{metric}{labels} not exported; have {sorted({n for n, _ in samples})}"
    return samples[key]


@dataclass
class Passes:
    """The controller of one namespace, stepped pass by pass on the real cluster."""

    kube: KubeCluster
    namespace: str
    controller: Controller
    prometheus: Prometheus
    log: io.StringIO
    names: tuple[str, ...]
    history: list[list[StepOutcome]] = field(default_factory=list)
    _served: dict[str, float] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        kube: KubeCluster,
        namespace: str,
        repo: Path,
        prometheus: Prometheus,
        names: Iterable[str],
        *,
        metrics_server: str | None = None,
        reporting: Reporting | None = None,
        mesh_provider: str = "istio",
    ) -> Passes:
        log = io.StringIO()
        configure_logging(log)  # the controller's JSON log lines, kept for the assertions
        recorder = GitRecorder(repo)
        ctx = Context(
            kube,
            recorder,
            metrics_server or prometheus.url,
            telemetry=Telemetry(),
            reporting=reporting or Reporting(),
            intents=IntentStore(recorder.repo),
            mesh_provider=mesh_provider,
        )
        return cls(kube, namespace, Controller(kube, ctx, namespace=namespace), prometheus, log, tuple(names))

    def phases(self) -> dict[str, str]:
        return {n: phase(self.kube, self.namespace, n) for n in self.names}

    def one(self, before: Callable[[], None] = lambda: None) -> list[StepOutcome]:
        """Wait until the world is ready for the next step, then run one pass over every Canary."""
        ns = self.namespace
        wait_for("the deployments to roll out", lambda: settled(self.kube, ns), 180)
        for name in self.names:
            st = status(self.kube, ns, name)
            if st.get("phase") == "Progressing" and int(st.get("canaryWeight", 0)) > 0:
                # Judge the current weight on fresh data: Prometheus has scraped new canary traffic.
                since = self._served.get(name, 0.0)
                wait_for(
                    f"fresh {name} canary traffic in Prometheus",
                    lambda n=name, s=since: fresh(self.prometheus, ns, n, s),
                    60,
                )
        before()
        self._served = {n: served(self.prometheus, ns, n) for n in self.names}
        self.controller.sync()
        outcomes = self.controller.run_pass(everything=True)
        self.history.append(outcomes)
        return outcomes

    def until_settled(
        self, limit: int = 14, before: Callable[[int], None] = lambda _: None
    ) -> dict[str, str]:
        """Run passes until every Canary is Succeeded or Failed; return the phases."""
        for i in range(limit):
            self.one(lambda i=i: before(i))
            phases = self.phases()
            if all(p in TERMINAL for p in phases.values()):
                return phases
        raise AssertionError(f"not settled after {limit} passes: {self.phases()}; steps: {self.subjects()}")

    def until(self, want: Mapping[str, str], limit: int = 10) -> None:
        for _ in range(limit):
            if all(phase(self.kube, self.namespace, n) == p for n, p in want.items()):
                return
            self.one()
        raise AssertionError(f"never reached {dict(want)}: {self.phases()}")

    def subjects(self) -> list[str]:
        return [o.decision.subject for batch in self.history for o in batch if o.decision]


def create_all(kube: KubeCluster, objects: Iterable[dict[str, Any]]) -> None:
    for obj in objects:
        create(kube, obj)
