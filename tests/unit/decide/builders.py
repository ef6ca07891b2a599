"""Small builders for decision-core tests: a podinfo Canary, states and observations.

Canaries are built straight from the dataclasses in ``gitflagger.model.canary``
so these tests depend on nothing but the contracts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gitflagger.decide import Decision, decide
from gitflagger.decide.observation import (
    ManualIntent,
    MetricResult,
    Observation,
    WebhookResult,
    WorkloadHealth,
)
from gitflagger.model.canary import (
    V1BETA1,
    Analysis,
    Canary,
    CanarySpec,
    MetricCheck,
    NamespacedRef,
    ObjectRef,
    ServiceSpec,
    ThresholdRange,
    Webhook,
    WebhookType,
)
from gitflagger.model.status import Phase, State

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
PROMOTED = "sha256:1111"
"""The revision the primary runs."""
NEW = "sha256:2222"
"""The revision under analysis."""
NEWER = "sha256:3333"

SUCCESS_RATE = MetricCheck("request-success-rate", ThresholdRange(min=99))
DURATION = MetricCheck("request-duration", ThresholdRange(max=500))
ERROR_RATE = MetricCheck(
    "error-rate", ThresholdRange(max=1), template_ref=NamespacedRef("error-rate", "istio-system")
)
NOT_READY = "waiting for rollout to finish: 0 of 1 (readyThreshold 100%) updated replicas are available"


def hook(name: str, kind: WebhookType) -> Webhook:
    return Webhook(name=name, type=kind, url=f"http://flagger-loadtester.test/{name}")


def canary(
    *,
    webhooks: Iterable[Webhook] = (),
    metrics: Iterable[MetricCheck] = (SUCCESS_RATE, DURATION),
    skip_analysis: bool = False,
    suspend: bool = False,
    progress_deadline_seconds: int = 600,
    **analysis: Any,
) -> Canary:
    """podinfo.test with stepWeight 10, maxWeight 50, threshold 5 unless told otherwise."""
    settings: dict[str, Any] = {"step_weight": 10, "max_weight": 50, "threshold": 5}
    settings.update(analysis)
    return Canary(
        api_version=V1BETA1,
        name="podinfo",
        namespace="test",
        spec=CanarySpec(
            target_ref=ObjectRef("apps/v1", "Deployment", "podinfo"),
            service=ServiceSpec(port=9898),
            analysis=Analysis(metrics=tuple(metrics), webhooks=tuple(webhooks), **settings),
            skip_analysis=skip_analysis,
            suspend=suspend,
            progress_deadline_seconds=progress_deadline_seconds,
        ),
        uid="0d7c1c53-1111-4c8e-9f5e-podinfo",
    )


def good_metrics() -> dict[str, MetricResult]:
    return {
        "request-success-rate": MetricResult.of("request-success-rate", 99.95),
        "request-duration": MetricResult.of("request-duration", 212.0),
        "error-rate": MetricResult.of("error-rate", 0.2),
    }


def observe(
    *,
    at: float = 0,
    revision: str = NEW,
    configs: Mapping[str, str] | None = None,
    canary_ready: bool | WorkloadHealth = True,
    primary_ready: bool | WorkloadHealth = True,
    metrics: Mapping[str, MetricResult] | None = None,
    webhooks: Mapping[str, bool | str] | None = None,
    manual: ManualIntent | None = None,
) -> Observation:
    """An observation ``at`` seconds after NOW. Webhook answers: True (2xx), False or an error text."""
    results = {}
    for name, answer in (webhooks or {}).items():
        error = answer if isinstance(answer, str) else "403 Forbidden"
        results[name] = WebhookResult(name, answer is True, "" if answer is True else error)
    return Observation(
        now=NOW + timedelta(seconds=at),
        revision=revision,
        tracked_configs=dict(configs or {"configmap/podinfo-config": "sha256:cfg1"}),
        canary=_health(canary_ready),
        primary=_health(primary_ready),
        metrics=good_metrics() if metrics is None else dict(metrics),
        webhooks=results,
        manual=manual,
    )


def _health(value: bool | WorkloadHealth) -> WorkloadHealth:
    if isinstance(value, WorkloadHealth):
        return value
    return WorkloadHealth() if value else WorkloadHealth(ready=False, message=NOT_READY)


def settled(phase: Phase = Phase.SUCCEEDED, revision: str = PROMOTED) -> State:
    """A canary at rest: the primary runs ``revision``."""
    return State(
        phase=phase,
        last_applied_spec=revision,
        last_promoted_spec=PROMOTED,
        tracked_configs={"configmap/podinfo-config": "sha256:cfg1"},
        last_transition_time=NOW - timedelta(hours=1),
        step=7,
    )


def in_flight(
    phase: Phase = Phase.PROGRESSING,
    *,
    weight: int = 0,
    failed: int = 0,
    iterations: int = 0,
    mirrored: bool = False,
    since: float = 120,
) -> State:
    """A rollout of NEW under way, its phase entered ``since`` seconds before NOW."""
    return settled(phase, NEW).evolve(
        canary_weight=weight,
        failed_checks=failed,
        iterations=iterations,
        mirrored=mirrored,
        last_transition_time=NOW - timedelta(seconds=since),
    )


def texts(decision: Decision) -> tuple[str, ...]:
    return tuple(e.message for e in decision.events)


def walk(spec: Canary, state: State, observations: Iterable[Observation]) -> list[Decision]:
    """Feed each decision's state into the next step, the way the engine does."""
    out: list[Decision] = []
    for seen in observations:
        decision = decide(spec, state, seen)
        out.append(decision)
        state = decision.state
    return out


def steps(count: int, start: float = 0, **kwargs: Any) -> list[Observation]:
    """``count`` observations one minute apart."""
    return [observe(at=start + 60 * i, **kwargs) for i in range(count)]
