"""Canaries for adapter tests, built directly from the model's dataclasses."""

from __future__ import annotations

from gitflagger.model.canary import (
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
from gitflagger.model.durations import parse_duration


def canary(
    *,
    name: str = "podinfo",
    namespace: str = "test",
    target: str = "podinfo",
    service: str | None = None,
    metrics: tuple[MetricCheck, ...] = (),
    webhooks: tuple[Webhook, ...] = (),
    step_weight: int = 10,
    max_weight: int = 50,
) -> Canary:
    spec = CanarySpec(
        target_ref=ObjectRef("apps/v1", "Deployment", target),
        service=ServiceSpec(port=9898, name=service),
        analysis=Analysis(
            threshold=5, step_weight=step_weight, max_weight=max_weight, metrics=metrics, webhooks=webhooks
        ),
    )
    return Canary("flagger.app/v1beta1", name, namespace, spec, uid="uid-1")


def metric(
    name: str,
    *,
    interval: str = "1m",
    template: str | None = None,
    template_namespace: str | None = None,
    variables: dict[str, str] | None = None,
    query: str | None = None,
) -> MetricCheck:
    ref = NamespacedRef(template, template_namespace) if template else None
    return MetricCheck(name, ThresholdRange(min=99), parse_duration(interval), ref, variables or {}, query)


def webhook(
    name: str,
    url: str,
    kind: WebhookType = WebhookType.PRE_ROLLOUT,
    *,
    timeout: str = "10s",
    retries: int = 0,
    disable_tls: bool = False,
    metadata: dict[str, str] | None = None,
) -> Webhook:
    return Webhook(name, kind, url, parse_duration(timeout), retries, disable_tls, False, metadata or {})
