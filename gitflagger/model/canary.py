"""The Canary, as frozen typed objects.

Parsing and validation live in :mod:`gitflagger.model.parse`; this module only
declares the shape. Field names are snake_case versions of Flagger's JSON
names. Istio pass-through blocks (``trafficPolicy``, ``match``, ``retries``,
``headers``, ``corsPolicy``, ``rewrite``) stay as plain JSON values: the Istio
router copies them into the VirtualService or DestinationRule without
interpreting them; the Gateway API router translates ``match`` and ``headers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gitflagger.model.durations import Duration

JSON = Any
"""A JSON value copied through untouched (an Istio block, for instance)."""

API_GROUP = "flagger.app"
V1BETA1 = "flagger.app/v1beta1"
V1ALPHA3 = "flagger.app/v1alpha3"

DEFAULT_INTERVAL = Duration(60_000_000_000, "1m")
DEFAULT_METRIC_INTERVAL = Duration(60_000_000_000, "1m")
DEFAULT_WEBHOOK_TIMEOUT = Duration(10_000_000_000, "10s")
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_MAX_WEIGHT = 100
DEFAULT_PROVIDER = "istio"

DEPLOYMENT = "Deployment"
DAEMONSET = "DaemonSet"
TARGET_KINDS = (DEPLOYMENT, DAEMONSET)
"""The ``targetRef`` kinds gitflagger rolls out (``apps/v1``)."""
HPA = "HorizontalPodAutoscaler"
SCALED_OBJECT = "ScaledObject"
KEDA_API_VERSION = "keda.sh/v1alpha1"
BUILTIN_METRICS = ("request-success-rate", "request-duration")


class WebhookType(StrEnum):
    """When a webhook runs. Gates block progress until they answer 2xx."""

    CONFIRM_ROLLOUT = "confirm-rollout"
    PRE_ROLLOUT = "pre-rollout"
    ROLLOUT = "rollout"
    CONFIRM_TRAFFIC_INCREASE = "confirm-traffic-increase"
    CONFIRM_PROMOTION = "confirm-promotion"
    POST_ROLLOUT = "post-rollout"
    ROLLBACK = "rollback"
    EVENT = "event"


class Strategy(StrEnum):
    CANARY = "canary"
    AB_TESTING = "ab-testing"
    BLUE_GREEN = "blue-green"


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str


@dataclass(frozen=True)
class AutoscalerRef(ObjectRef):
    """``spec.autoscalerRef``: an ``autoscaling/v2`` HPA or a KEDA ``keda.sh/v1alpha1`` ScaledObject."""

    primary_scaler_queries: Mapping[str, str] = field(default_factory=dict)
    """ScaledObject trigger name → the query its ``-primary`` copy runs instead (Flagger's
    ``primaryScalerQueries``; without it the target's name in each query is replaced)."""

    @property
    def keda(self) -> bool:
        return self.kind == SCALED_OBJECT


@dataclass(frozen=True)
class NamespacedRef:
    name: str
    namespace: str | None = None


@dataclass(frozen=True)
class ObjectMetadata:
    """Extra labels and annotations for a generated object (``service.apex`` etc.)."""

    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UnmanagedMetadata:
    """``service.unmanagedMetadata``: label and annotation keys gitflagger never writes on its Services."""

    labels: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScalerReplicas:
    """``autoscalerRef.primaryScalerReplicas``: bounds for the primary's autoscaler, else the target's."""

    min_replicas: int | None = None
    max_replicas: int | None = None


@dataclass(frozen=True)
class ServiceSpec:
    port: int
    name: str | None = None
    port_name: str = "http"
    target_port: int | str | None = None
    port_discovery: bool = False
    gateways: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    traffic_policy: JSON = None
    match: tuple[JSON, ...] = ()
    retries: JSON = None
    headers: JSON = None
    cors_policy: JSON = None
    timeout: str | None = None
    rewrite: JSON = None
    gateway_refs: tuple[JSON, ...] = ()
    """Gateway API ``parentRefs`` of the HTTPRoute (``gatewayapi`` providers), copied as given."""
    backend_timeout: str | None = None
    """Gateway API ``timeouts.backendRequest`` of the HTTPRoute's rules."""
    apex: ObjectMetadata | None = None
    primary: ObjectMetadata | None = None
    canary: ObjectMetadata | None = None
    app_protocol: str | None = None
    """``appProtocol`` of the Services' main port; ``tcp`` (any case) also makes Istio route TCP."""
    traffic_distribution: str | None = None
    headless: bool = False
    delegation: bool = False
    """An Istio delegate VirtualService: no hosts, no gateways (a root VirtualService delegates to it)."""
    unmanaged_metadata: UnmanagedMetadata | None = None

    @property
    def tcp(self) -> bool:
        """Flagger's ``isTcp``: Istio routes the service as TCP (``tcp`` routes) instead of HTTP."""
        return (self.app_protocol or "").lower() == "tcp"


@dataclass(frozen=True)
class ThresholdRange:
    min: float | None = None
    max: float | None = None

    def contains(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class MetricCheck:
    """One metric of the analysis: a built-in Istio metric or a MetricTemplate reference."""

    name: str
    threshold_range: ThresholdRange
    interval: Duration = DEFAULT_METRIC_INTERVAL
    template_ref: NamespacedRef | None = None
    template_variables: Mapping[str, str] = field(default_factory=dict)
    query: str | None = None
    """Legacy inline PromQL (``metrics[].query``), kept for v1alpha3 Canaries."""


@dataclass(frozen=True)
class Webhook:
    name: str
    type: WebhookType
    url: str
    timeout: Duration = DEFAULT_WEBHOOK_TIMEOUT
    retries: int = 0
    disable_tls: bool = False
    mute_alert: bool = False
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertRef:
    name: str
    provider_ref: NamespacedRef
    severity: str = "info"


@dataclass(frozen=True)
class SessionAffinity:
    """``analysis.sessionAffinity``: the sticky cookie's name and the attributes its Set-Cookie carries."""

    cookie_name: str
    max_age: int = 86400
    primary_cookie_name: str = ""
    """Newer Flagger's second cookie: users the primary answered stay on it (for one interval)."""
    domain: str = ""
    path: str = ""
    same_site: str = ""
    http_only: bool = False
    secure: bool = False
    partitioned: bool = False


@dataclass(frozen=True)
class Analysis:
    """``spec.analysis`` (v1beta1) or ``spec.canaryAnalysis`` (v1alpha3), with Flagger's defaults."""

    interval: Duration = DEFAULT_INTERVAL
    threshold: int = 1
    iterations: int = 0
    max_weight: int = DEFAULT_MAX_WEIGHT
    step_weight: int = 0
    step_weights: tuple[int, ...] = ()
    step_weight_promotion: int = 0
    match: tuple[JSON, ...] = ()
    mirror: bool = False
    mirror_weight: int = 0
    primary_ready_threshold: int = 100
    canary_ready_threshold: int = 100
    metrics: tuple[MetricCheck, ...] = ()
    webhooks: tuple[Webhook, ...] = ()
    alerts: tuple[AlertRef, ...] = ()
    session_affinity: SessionAffinity | None = None

    @property
    def strategy(self) -> Strategy:
        """A/B testing with ``match`` and ``iterations``; blue/green with ``iterations`` only."""
        if self.iterations > 0 and self.match:
            return Strategy.AB_TESTING
        if self.iterations > 0:
            return Strategy.BLUE_GREEN
        return Strategy.CANARY

    def webhooks_of(self, kind: WebhookType) -> tuple[Webhook, ...]:
        return tuple(w for w in self.webhooks if w.type == kind)


@dataclass(frozen=True)
class CanarySpec:
    target_ref: ObjectRef
    service: ServiceSpec
    analysis: Analysis
    autoscaler_ref: AutoscalerRef | None = None
    primary_scaler_replicas: ScalerReplicas | None = None
    progress_deadline_seconds: int = DEFAULT_PROGRESS_DEADLINE_SECONDS
    skip_analysis: bool = False
    suspend: bool = False
    revert_on_deletion: bool = False
    metrics_server: str | None = None
    """``spec.metricsServer``: this Canary's Prometheus URL, overriding ``--metrics-server``."""
    provider: str = DEFAULT_PROVIDER
    """``spec.provider``, or the controller's ``--mesh-provider`` when the Canary names none.

    Checked by the router factory (:mod:`gitflagger.render.routers`), the one
    place that knows which providers exist."""


@dataclass(frozen=True)
class Canary:
    """A parsed, validated Canary. ``raw`` keeps the original document for round trips."""

    api_version: str
    name: str
    namespace: str
    spec: CanarySpec
    uid: str = ""
    generation: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    raw: Mapping[str, JSON] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """``name.namespace``, the way Flagger names a canary in its event texts."""
        return f"{self.name}.{self.namespace}"

    @property
    def ref(self) -> str:
        """``namespace/name``, the way kubectl and the ``Canary:`` commit trailer name it."""
        return f"{self.namespace}/{self.name}"

    @property
    def target_name(self) -> str:
        return self.spec.target_ref.name

    @property
    def primary_name(self) -> str:
        return f"{self.spec.target_ref.name}-primary"

    @property
    def service_name(self) -> str:
        return self.spec.service.name or self.spec.target_ref.name
