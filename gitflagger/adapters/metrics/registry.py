"""Metrics providers by ``spec.provider.type``; an unknown type is a validation error.

Flagger's factory silently falls back to Prometheus for a name it does not know,
so a typo (``prometeus``) sends a Datadog query to Prometheus and fails later
with a confusing parse error. Here the type is checked first and the error
names the field and the supported types. Likewise a ``spec.provider`` field the
type does not use (``region`` on Datadog, ``headers`` on New Relic) is refused
with its path, where Flagger ignores it.

Adding a provider is one file with a ``from_spec(spec, credentials, ctx)``
constructor plus one entry in :data:`PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitflagger.adapters.metrics.cloudwatch import CloudWatchProvider
from gitflagger.adapters.metrics.context import KubeApi, ObjectReader, ProviderContext
from gitflagger.adapters.metrics.datadog import DatadogProvider
from gitflagger.adapters.metrics.dynatrace import DynatraceProvider
from gitflagger.adapters.metrics.externalmetrics import ExternalMetricsProvider
from gitflagger.adapters.metrics.graphite import GraphiteProvider
from gitflagger.adapters.metrics.influxdb import InfluxdbProvider
from gitflagger.adapters.metrics.keptn import KeptnProvider
from gitflagger.adapters.metrics.newrelic import NewRelicProvider
from gitflagger.adapters.metrics.prometheus import PrometheusProvider
from gitflagger.adapters.metrics.provider import MetricsProvider
from gitflagger.adapters.metrics.splunk import SplunkProvider
from gitflagger.adapters.metrics.stackdriver import StackdriverProvider
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

Factory = Callable[[MetricProviderSpec, Mapping[str, str] | None, ProviderContext], MetricsProvider]


@dataclass(frozen=True)
class Entry:
    factory: Factory
    fields: frozenset[str]
    """The optional ``spec.provider`` fields this type acts on; any other one set is refused."""


def _prometheus(
    spec: MetricProviderSpec, creds: Mapping[str, str] | None, ctx: ProviderContext
) -> MetricsProvider:
    return PrometheusProvider.from_spec(spec, creds, timeout=ctx.timeout_or())


_HTTP = frozenset({"address", "secretRef"})
PROVIDERS: Mapping[str, Entry] = {
    "prometheus": Entry(_prometheus, _HTTP | {"headers", "insecureSkipVerify"}),
    "datadog": Entry(DatadogProvider.from_spec, _HTTP),
    "cloudwatch": Entry(CloudWatchProvider.from_spec, _HTTP | {"region"}),
    "newrelic": Entry(NewRelicProvider.from_spec, _HTTP),
    "graphite": Entry(GraphiteProvider.from_spec, _HTTP | {"insecureSkipVerify"}),
    "influxdb": Entry(InfluxdbProvider.from_spec, _HTTP),
    "dynatrace": Entry(DynatraceProvider.from_spec, _HTTP),
    "keptn": Entry(KeptnProvider.from_spec, frozenset()),
    "stackdriver": Entry(StackdriverProvider.from_spec, _HTTP),
    "externalmetrics": Entry(ExternalMetricsProvider.from_spec, _HTTP | {"insecureSkipVerify"}),
    "splunk": Entry(SplunkProvider.from_spec, _HTTP),
}
NOT_SUPPORTED: Mapping[str, str] = {}
"""Types Flagger v1.44 has and gitflagger does not: refused with a reason, never run as Prometheus."""


def supported_types() -> tuple[str, ...]:
    return tuple(sorted(PROVIDERS))


def provider_for(
    spec: MetricProviderSpec,
    credentials: Mapping[str, str] | None = None,
    *,
    timeout: float | None = None,
    interval: str = "1m",
    kube: ObjectReader | None = None,
    kube_api: KubeApi | None = None,
) -> MetricsProvider:
    """Build the provider ``spec`` asks for, with the decoded data of its Secret (if any).

    ``interval`` is the metric's interval (some providers look back a multiple of it);
    ``kube`` reads cluster objects (Keptn), ``kube_api`` GETs API paths (external metrics).
    Raises :class:`ValidationError` for an unknown type, a field the type does not use, a
    bad address or unusable credentials.
    """
    entry = PROVIDERS.get(spec.type)
    if entry is None:
        reason = NOT_SUPPORTED.get(spec.type, f'unknown provider "{spec.type}"')
        raise ValidationError(
            [FieldProblem("spec.provider.type", f"{reason}, supported: {', '.join(supported_types())}")],
            subject="MetricTemplate",
        )
    unused = [name for name in spec.fields_set() if name not in entry.fields]
    if unused:
        raise ValidationError(
            [
                FieldProblem(f"spec.provider.{name}", f"not used by the {spec.type} provider")
                for name in unused
            ],
            subject="MetricTemplate",
        )
    return entry.factory(
        spec, credentials, ProviderContext(interval=interval, timeout=timeout, kube=kube, kube_api=kube_api)
    )
