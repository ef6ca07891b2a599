"""``gitflagger simulate``: the real decide, render and record stages, driven by a timeline.

No cluster and no Prometheus: the timeline says what the world looks like at
each tick (see :mod:`gitflagger.engine.timeline`) and this module plays the
part of the observe and apply stages around the real core:

1. apply the tick's entry to the target Deployment or DaemonSet (a new image is a new revision);
2. observe: revision hash, tracked configs, readiness, metric values and the
   answers of the gate webhooks :func:`gates_due` names (default: pass);
3. :func:`decide`, :func:`render`, and record one commit per changed step;
4. "apply": remember the rendered primary's template, configs and replicas,
   which is what the next observe would read back from the cluster.

A tick is one analysis interval: ``now = start + tick × interval``, so the same
files always give the same commits, ids included.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from gitflagger.decide import (
    Decision,
    MetricResult,
    Observation,
    WebhookResult,
    WorkloadHealth,
    gates_due,
)
from gitflagger.engine.plan import plan_step
from gitflagger.engine.ports import RecordPort
from gitflagger.engine.timeline import Timeline, World
from gitflagger.engine.workload import Workload
from gitflagger.errors import FieldProblem, PermanentError, ValidationError
from gitflagger.model.canary import DAEMONSET, Canary, WebhookType
from gitflagger.model.hashing import pod_template_hash
from gitflagger.model.status import Phase, State, format_time
from gitflagger.render import Manifest, WorkloadInputs
from gitflagger.render.configs import tracked_configs
from gitflagger.render.workload import json_copy

DEFAULT_MAX_TICKS = 100
_DONE = (Phase.SUCCEEDED, Phase.FAILED)


@dataclasses.dataclass(frozen=True)
class TickResult:
    """What one tick did: the facts ``--output json`` and the table show."""

    tick: int
    time: datetime
    phase: str
    canary_weight: int
    primary_weight: int
    failed_checks: int
    iterations: int
    events: tuple[str, ...]
    subject: str
    commit: str | None
    skipped: str | None
    commits: tuple[str, ...] = ()
    """Every commit of the tick: two on tick 0, where initialization starts and finishes."""

    def to_json(self) -> dict[str, Any]:
        return {
            "tick": self.tick,
            "time": format_time(self.time),
            "phase": self.phase,
            "canaryWeight": self.canary_weight,
            "primaryWeight": self.primary_weight,
            "failedChecks": self.failed_checks,
            "iterations": self.iterations,
            "events": list(self.events),
            "subject": self.subject,
            "commit": self.commit,
            "commits": list(self.commits),
            "skipped": self.skipped,
        }


@dataclasses.dataclass
class _Cluster:
    """What the simulated cluster holds between ticks: the target and the primary as last applied."""

    target: dict[str, Any]
    primary_template: Mapping[str, Any] | None = None
    primary_configs: Mapping[str, Mapping[str, Any]] | None = None
    primary_replicas: int | None = None
    state: State = dataclasses.field(default_factory=State)
    canary_unready_since: datetime | None = None
    primary_unready_since: datetime | None = None

    def note_readiness(self, world: World, now: datetime) -> None:
        """Remember when each Deployment became unavailable: the progress deadline counts from then."""
        if world.canary_ready:
            self.canary_unready_since = None
        elif self.canary_unready_since is None:
            self.canary_unready_since = now
        if world.primary_ready:
            self.primary_unready_since = None
        elif self.primary_unready_since is None:
            self.primary_unready_since = now


def check_timeline(canary: Canary, timeline: Timeline) -> None:
    """Refuse metric and webhook names the Canary does not have: a typo would read as "no values"."""
    metrics = {m.name for m in canary.spec.analysis.metrics}
    hooks = {w.name for w in canary.spec.analysis.webhooks}
    problems: list[FieldProblem] = []
    for index, entry in enumerate(timeline.entries):
        for key, names, known in (("metrics", entry.metrics, metrics), ("webhooks", entry.webhooks, hooks)):
            for name in names:
                if name not in known:
                    choices = ", ".join(sorted(known)) or "none"
                    problems.append(
                        FieldProblem(
                            f"timeline[{index}].{key}.{name}",
                            f"not in Canary {canary.ref} (it has: {choices})",
                        )
                    )
    if problems:
        raise ValidationError(problems, subject="timeline")


def simulate(
    workload: Workload, timeline: Timeline, recorder: RecordPort, *, max_ticks: int = DEFAULT_MAX_TICKS
) -> Iterator[TickResult]:
    """Play ``timeline`` tick by tick, yielding each tick's result as soon as it is recorded.

    Stops after a rollout that started after tick 0 ends (Succeeded or Failed),
    or after ``max_ticks`` ticks.
    """
    canary = workload.canary
    check_timeline(canary, timeline)
    interval = timedelta(seconds=canary.spec.analysis.interval.seconds)
    cluster = _Cluster(target=copy.deepcopy(dict(workload.target)))
    started = False
    for world in timeline.worlds(max_ticks):
        now = timeline.start + world.tick * interval
        _set_image(cluster.target, world.image)
        cluster.note_readiness(world, now)
        decision, result = _step(workload, cluster, world, now, recorder)
        if decision.state.phase is Phase.INITIALIZING and world.primary_ready:
            # Tick 0 is "the Canary is created": once the primary is up, initialization
            # finishes within the same tick, so tick 1 can already bring a new revision.
            first = result
            decision, result = _step(workload, cluster, world, now, recorder)
            result = _merge(first, result)
        yield result
        phase = decision.state.phase
        started = started or (world.tick > 0 and phase is not None and phase.in_flight)
        if started and phase in _DONE:
            return


def _step(
    workload: Workload, cluster: _Cluster, world: World, now: datetime, recorder: RecordPort
) -> tuple[Decision, TickResult]:
    """One pass of observe → decide → render → record → apply."""
    canary = workload.canary
    observation = _observe(workload, cluster, world, now)
    plan = plan_step(canary, cluster.state, observation, _inputs(workload, cluster))
    decision, manifests = plan.decision, plan.manifests
    result = recorder.record(plan.step)
    recorder.flush()
    _apply(cluster, canary.spec.target_ref.kind, decision, manifests, result.commit_id)
    return decision, _tick_result(world.tick, now, decision, result.commit_id, result.skipped_reason)


def _merge(first: TickResult, then: TickResult) -> TickResult:
    """Two passes within one tick, reported as one: every event, the last commit."""
    return dataclasses.replace(
        then,
        events=first.events + then.events,
        commit=then.commit or first.commit,
        commits=first.commits + then.commits,
    )


def _set_image(target: dict[str, Any], image: str | None) -> None:
    """Put ``image`` on the target's first container, as ``kubectl set image`` would."""
    if image is None:
        return
    pod = ((target.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers = pod.get("containers") or []
    if not containers or not isinstance(containers[0], dict):
        name = (target.get("metadata") or {}).get("name")
        raise PermanentError(f"timeline sets an image, but {target.get('kind')} {name} has no containers")
    containers[0]["image"] = image


def _observe(workload: Workload, cluster: _Cluster, world: World, now: datetime) -> Observation:
    canary = workload.canary
    analysis = canary.spec.analysis
    template = cluster.target["spec"]["template"]
    replicas = _replicas(cluster.target, workload.hpa)
    unit = "pods" if canary.spec.target_ref.kind == DAEMONSET else "replicas"
    metrics = {
        m.name: (
            MetricResult.of(m.name, value)
            if (value := world.metrics.get(m.name)) is not None
            else MetricResult.no_values(m.name)
        )
        for m in analysis.metrics
    }
    observation = Observation(
        now=now,
        revision=pod_template_hash(template),
        tracked_configs=tracked_configs(template, workload.configmaps, workload.secrets),
        canary=_health(cluster.canary_unready_since, replicas, analysis.canary_ready_threshold, unit),
        primary=_health(cluster.primary_unready_since, replicas, analysis.primary_ready_threshold, unit),
        metrics=metrics,
        manual=world.manual,
    )
    due = gates_due(canary, cluster.state, observation)
    answers = {
        # A rollback hook's 2xx means "roll back now": unless the timeline says so, it stays quiet.
        hook.name: WebhookResult(
            hook.name, ok=world.webhooks.get(hook.name, hook.type is not WebhookType.ROLLBACK)
        )
        for kind in due
        for hook in analysis.webhooks_of(kind)
    }
    return dataclasses.replace(observation, webhooks=answers)


def _health(unready_since: datetime | None, replicas: int, threshold: int, unit: str) -> WorkloadHealth:
    if unready_since is None:
        return WorkloadHealth()
    return WorkloadHealth(
        ready=False,
        unavailable_since=unready_since,
        message=(
            f"waiting for rollout to finish: 0 of {replicas} (readyThreshold {threshold}%) "
            f"updated {unit} are available"
        ),
    )


def _replicas(target: Mapping[str, Any], hpa: Mapping[str, Any] | None) -> int:
    if hpa is not None:
        spec = hpa.get("spec") or {}
        return int(spec.get("minReplicas") or spec.get("minReplicaCount") or 1)
    return int((target.get("spec") or {}).get("replicas") or 1)


def _inputs(workload: Workload, cluster: _Cluster) -> WorkloadInputs:
    return WorkloadInputs(
        target=cluster.target,
        hpa=workload.hpa,
        configmaps=workload.configmaps,
        secrets=workload.secrets,
        primary_template=cluster.primary_template,
        primary_configs=cluster.primary_configs,
        primary_replicas=cluster.primary_replicas,
    )


def _apply(
    cluster: _Cluster, kind: str, decision: Decision, manifests: Sequence[Manifest], commit: str | None
) -> None:
    """What the apply stage leaves behind: the primary (of the target's ``kind``) as rendered, and the
    new state."""
    for manifest in manifests:
        if manifest.kind == kind:
            cluster.primary_template = json_copy(manifest.obj["spec"]["template"])  # deepcopy: 5x slower
            cluster.primary_replicas = manifest.obj["spec"].get("replicas")
    cluster.primary_configs = {
        f"{m.kind.lower()}/{m.name.removesuffix('-primary')}": m.obj
        for m in manifests
        if m.kind in ("ConfigMap", "Secret")
    }
    state = decision.state
    cluster.state = state.evolve(last_commit=commit) if commit else state


def _tick_result(
    tick: int, now: datetime, decision: Decision, commit: str | None, skipped: str | None
) -> TickResult:
    state = decision.state
    return TickResult(
        tick=tick,
        time=now,
        phase=state.phase.value if state.phase else "",
        canary_weight=state.canary_weight,
        primary_weight=decision.routes.primary,
        failed_checks=state.failed_checks,
        iterations=state.iterations,
        events=tuple(e.message for e in decision.events),
        subject=decision.subject,
        commit=commit,
        skipped=skipped,
        commits=(commit,) if commit else (),
    )
