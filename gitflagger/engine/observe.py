"""The observe stage: read the cluster, measure, ask the gates, and freeze it all into an Observation.

Three rounds, each only as wide as the step needs:

1. :func:`read_live` reads the objects (target Deployment or DaemonSet,
   primary, HPA or KEDA ScaledObject, the configs both reference, and the
   routing object the Canary's router names: the VirtualService for Istio,
   the HTTPRoute for Gateway API). That is enough for the revision, the
   tracked-config checksums and readiness. In the controller these reads are
   answered by watch caches and cost no request (Secrets are read by name;
   DaemonSets and ScaledObjects too, having no cache).
2. :func:`measure` queries metrics only when :func:`metrics_due` says this step
   judges them: a Canary between rollouts costs Prometheus nothing.
3. :func:`ask_gates` calls only the webhook types :func:`gates_due` names, in
   Flagger's order. A webhook is a side effect on someone else's system (a load
   test starts, a Slack approval is requested), so calling one the step does
   not need would be wrong, not just slow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gitflagger.adapters.kube.health import workload_health
from gitflagger.adapters.metrics import evaluate_metrics
from gitflagger.adapters.metrics.availability import check_providers
from gitflagger.adapters.metrics.context import cluster_api
from gitflagger.adapters.webhooks import run_gates
from gitflagger.decide import ManualIntent, Observation, WorkloadHealth, gates_due, metrics_due
from gitflagger.engine.ports import ClusterPort, Obj
from gitflagger.errors import TemporaryError, ValidationError
from gitflagger.model.canary import V1BETA1, Canary
from gitflagger.model.hashing import pod_template_hash
from gitflagger.model.status import Phase, State
from gitflagger.model.templates import MetricTemplate, decode_secret_data, parse_metric_template
from gitflagger.render import WorkloadInputs
from gitflagger.render.configs import config_refs, tracked_configs
from gitflagger.render.daemonset import unscaled
from gitflagger.render.names import PRIMARY_SUFFIX
from gitflagger.render.routers import router_for

APPS_V1 = "apps/v1"
DEPLOYMENT = (APPS_V1, "Deployment")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")


@dataclass(frozen=True)
class Live:
    """The objects one step reads from the cluster, ``managedFields`` already stripped by the adapter."""

    target: Obj
    primary: Obj | None = None
    hpa: Obj | None = None
    configmaps: Mapping[str, Obj] = field(default_factory=dict)
    secrets: Mapping[str, Obj] = field(default_factory=dict)
    primary_configs: Mapping[str, Obj] = field(default_factory=dict)
    """The primary's ``-primary`` config copies, keyed by *source* name (``configmap/podinfo-env``)."""
    route: Obj | None = None
    """The live object whose weights the router reads (:meth:`Router.live_ref`), if it exists."""

    @property
    def template(self) -> Mapping[str, Any]:
        """The target's pod template as its author wrote it: a DaemonSet's scale-to-zero node
        selector (:mod:`gitflagger.render.daemonset`) is the controller's, not a new revision."""
        return dict((unscaled(self.target).get("spec") or {}).get("template") or {})

    def inputs(self) -> WorkloadInputs:
        """What render needs; the primary's template and replicas come from the live primary."""
        spec = (self.primary or {}).get("spec") or {}
        replicas = spec.get("replicas")
        return WorkloadInputs(
            target=self.target,
            hpa=self.hpa,
            configmaps=self.configmaps,
            secrets=self.secrets,
            primary_template=spec.get("template") if self.primary is not None else None,
            primary_configs=self.primary_configs if self.primary is not None else None,
            primary_replicas=replicas if isinstance(replicas, int) else None,
        )


def read_live(cluster: ClusterPort, canary: Canary) -> Live:
    """Read the target and everything around it. A missing target is a temporary error:
    it is usually not applied yet, and Flagger waits for it the same way."""
    ns = canary.namespace
    kind = canary.spec.target_ref.kind
    target = cluster.get(APPS_V1, kind, ns, canary.target_name)
    if target is None:
        raise TemporaryError(
            f"{canary.ref}: target {kind.lower()} {canary.target_name}.{ns} not found", delay=10
        )
    primary = cluster.get(APPS_V1, kind, ns, canary.primary_name)
    hpa = None
    scaler = canary.spec.autoscaler_ref
    if scaler is not None:
        hpa = cluster.get(scaler.api_version, scaler.kind, ns, scaler.name)
    template = (unscaled(target).get("spec") or {}).get("template") or {}
    wanted: list[tuple[str, str]] = [(ref.kind, ref.name) for ref in config_refs(template)]
    copies: list[tuple[str, str]] = []
    if primary is not None:
        refs = config_refs((primary.get("spec") or {}).get("template") or {})
        copies = [(ref.kind, ref.name) for ref in refs if ref.name.endswith(PRIMARY_SUFFIX)]
    configmaps: dict[str, Obj] = {}
    secrets: dict[str, Obj] = {}
    primary_configs: dict[str, Obj] = {}
    if wanted or copies:  # one GET per name, never a list: no namespace-wide Secret read is needed
        found_maps, found_secrets = cluster.get_configs(ns, [*wanted, *copies])
        for kind, name in wanted:
            source = found_maps if kind == "configmap" else found_secrets
            if name in source:
                (configmaps if kind == "configmap" else secrets)[name] = dict(source[name])
        for kind, name in copies:
            source = found_maps if kind == "configmap" else found_secrets
            if name in source:
                primary_configs[f"{kind}/{name.removesuffix(PRIMARY_SUFFIX)}"] = dict(source[name])
    ref = router_for(canary.spec.provider).live_ref(canary)
    route = cluster.get(ref.api_version, ref.kind, ns, ref.name)
    return Live(target, primary, hpa, configmaps, secrets, primary_configs, route)


def first_look(
    canary: Canary, live: Live, now: datetime, manual: ManualIntent | None = None
) -> Observation:
    """The observation before any metric or webhook: revision, configs and readiness."""
    analysis = canary.spec.analysis
    kind = canary.spec.target_ref.kind
    template = live.template
    primary = (
        workload_health(kind, live.primary, analysis.primary_ready_threshold)
        if live.primary is not None
        else WorkloadHealth(exists=False)
    )
    return Observation(
        now=now,
        revision=pod_template_hash(template),
        tracked_configs=tracked_configs(template, live.configmaps, live.secrets),
        canary=workload_health(kind, live.target, analysis.canary_ready_threshold),
        primary=primary,
        manual=manual,
    )


def measure(
    cluster: ClusterPort, canary: Canary, state: State, seen: Observation, metrics_server: str
) -> Observation:
    """Add metric results when this step judges metrics; otherwise leave the observation as it is."""
    if not metrics_due(canary, state, seen):
        return seen
    templates, secrets = _templates(cluster, canary)
    server = canary.spec.metrics_server or metrics_server
    results = evaluate_metrics(
        canary, templates, secrets, server, kube=cluster.get, kube_api=cluster_api(cluster)
    )
    return dataclasses.replace(seen, metrics=results)


def check_providers_while_initializing(
    cluster: ClusterPort, canary: Canary, state: State, seen: Observation, metrics_server: str
) -> Observation:
    """Flagger's availability check of the metric providers, where Flagger makes it: on every
    pass while the Canary initializes (no phase yet, or Initializing), unless it skips analysis."""
    if canary.spec.skip_analysis or state.phase not in (None, Phase.INITIALIZING):
        return seen
    templates, secrets = _templates(cluster, canary)
    server = canary.spec.metrics_server or metrics_server
    reason = check_providers(
        canary, templates, secrets, server, kube=cluster.get, kube_api=cluster_api(cluster)
    )
    return dataclasses.replace(seen, providers=reason)


def ask_gates(canary: Canary, state: State, seen: Observation) -> Observation:
    """Call the gate webhooks this step consults and add their answers."""
    due = gates_due(canary, state, seen)
    if not due:
        return seen
    phase = state.phase.value if state.phase else ""
    answers = dict(seen.webhooks)
    answers.update(run_gates(canary, due, phase, webhook_checksum(state.last_applied_spec or seen.revision)))
    return dataclasses.replace(seen, webhooks=answers)


def webhook_checksum(revision: str) -> str:
    """The payload's ``checksum``: the revision's hash without its ``sha256:`` scheme.

    Flagger sends a bare hash, and gates use it as a file name (the load
    tester's ``approvals/<ns>/<name>/<checksum>``), where a colon is refused.

    >>> webhook_checksum("sha256:9f2c")
    '9f2c'
    """
    return revision.partition(":")[2] or revision


def _templates(
    cluster: ClusterPort, canary: Canary
) -> tuple[dict[tuple[str, str], MetricTemplate], dict[tuple[str, str], Mapping[str, str]]]:
    """The MetricTemplates the analysis names and their providers' Secrets.

    A template that is missing or invalid is left out: ``evaluate_metrics``
    then reports that metric as failed (a failed check), and the others are
    still measured.
    """
    templates: dict[tuple[str, str], MetricTemplate] = {}
    secrets: dict[tuple[str, str], Mapping[str, str]] = {}
    for metric in canary.spec.analysis.metrics:
        ref = metric.template_ref
        if ref is None:
            continue
        key = (ref.namespace or canary.namespace, ref.name)
        obj = cluster.get(V1BETA1, "MetricTemplate", *key)
        if obj is None:
            continue
        try:
            template = parse_metric_template(obj, default_namespace=key[0])
        except ValidationError:
            continue
        templates[key] = template
        secret_ref = template.provider.secret_ref
        if secret_ref is not None and (key[0], secret_ref) not in secrets:
            secret = cluster.get("v1", "Secret", key[0], secret_ref)
            if secret is not None:
                secrets[(key[0], secret_ref)] = decode_secret_data(secret)
    return templates, secrets
