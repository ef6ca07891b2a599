"""What the decision core is told: one immutable snapshot per step.

The engine (or ``gitflagger simulate``) gathers these facts; :func:`decide`
never fetches anything itself. Time is ``Observation.now``: the core never
reads a clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class MetricOutcome(StrEnum):
    VALUE = "value"
    NO_VALUES = "no-values"
    """The query ran and returned nothing (or NaN): probably no traffic reaches the canary."""
    ERROR = "error"
    """The query could not run (provider down, timeout, bad query)."""


@dataclass(frozen=True)
class MetricResult:
    """The outcome of one metric query. Only ``VALUE`` can ever pass a check."""

    name: str
    outcome: MetricOutcome
    value: float | None = None
    error: str = ""
    provider: str = "prometheus"

    @classmethod
    def of(cls, name: str, value: float, provider: str = "prometheus") -> MetricResult:
        return cls(name, MetricOutcome.VALUE, value=value, provider=provider)

    @classmethod
    def no_values(cls, name: str, provider: str = "prometheus") -> MetricResult:
        return cls(name, MetricOutcome.NO_VALUES, provider=provider)

    @classmethod
    def failed(cls, name: str, error: str, provider: str = "prometheus") -> MetricResult:
        return cls(name, MetricOutcome.ERROR, error=error, provider=provider)


@dataclass(frozen=True)
class WebhookResult:
    """The answer of one webhook call: ``ok`` means it returned 2xx within its timeout."""

    name: str
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class WorkloadHealth:
    """Readiness of a Deployment or a DaemonSet (the target or its primary), as Flagger judges it.

    ``message`` explains a not-ready workload in Flagger's words, e.g.
    ``waiting for rollout to finish: 1 of 2 (readyThreshold 100%) updated replicas are available``.
    ``deadline_exceeded`` is the Deployment's own ``ProgressDeadlineExceeded`` condition.
    """

    exists: bool = True
    ready: bool = True
    message: str = ""
    deadline_exceeded: bool = False
    unavailable_since: datetime | None = None
    """When the Deployment's ``Available`` condition turned False (``MinimumReplicasUnavailable``).

    Flagger measures ``progressDeadlineSeconds`` from that moment. When the adapter
    cannot tell, the decision core measures from the Canary's last phase change.
    """


class ManualIntent(StrEnum):
    """An operator's command recorded in git (``gitflagger promote|abort|retry``)."""

    PROMOTE = "promote"
    ABORT = "abort"
    RETRY = "retry"


@dataclass(frozen=True)
class Observation:
    now: datetime
    revision: str
    """Canonical hash of the target's pod template (``sha256:…``)."""
    tracked_configs: Mapping[str, str] = field(default_factory=dict)
    """Checksums of the ConfigMaps and Secrets the target references, keyed ``configmap/<name>``."""
    canary: WorkloadHealth = field(default_factory=WorkloadHealth)
    primary: WorkloadHealth = field(default_factory=WorkloadHealth)
    metrics: Mapping[str, MetricResult] = field(default_factory=dict)
    webhooks: Mapping[str, WebhookResult] = field(default_factory=dict)
    """Results of the gate webhooks called for this step, by webhook name.

    A gate that was due but has no result counts as failed: no evidence, no progress.
    """
    manual: ManualIntent | None = None
    providers: str | None = None
    """Flagger's availability check of the metric providers, made while the Canary initializes:
    None when it was not made, ``""`` when every provider answered, else the first failure."""
