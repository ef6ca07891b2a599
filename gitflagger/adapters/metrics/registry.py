"""Metrics providers by ``spec.provider.type``; an unknown type is a validation error.

Flagger's factory silently falls back to Prometheus for a name it does not know,
so a typo (``prometeus``) sends a Datadog query to Prometheus and fails later
with a confusing parse error. Here the type is checked first and the error
names the field and the supported types.

Adding a provider is one file with a ``from_spec`` constructor plus one line in
:data:`PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gitflagger.adapters.metrics.prometheus import DEFAULT_TIMEOUT, PrometheusProvider
from gitflagger.adapters.metrics.provider import MetricsProvider
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

ProviderFactory = Callable[..., MetricsProvider]
"""``factory(spec, credentials, *, timeout=...)`` → a provider (see ``PrometheusProvider.from_spec``)."""

PROVIDERS: Mapping[str, ProviderFactory] = {
    "prometheus": PrometheusProvider.from_spec,
}


def supported_types() -> tuple[str, ...]:
    return tuple(sorted(PROVIDERS))


def provider_for(
    spec: MetricProviderSpec,
    credentials: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> MetricsProvider:
    """Build the provider ``spec`` asks for, with the decoded data of its Secret (if any).

    Raises :class:`ValidationError` for an unknown type, a bad address or unusable credentials.
    """
    factory = PROVIDERS.get(spec.type)
    if factory is None:
        raise ValidationError(
            [
                FieldProblem(
                    "spec.provider.type",
                    f'unknown provider "{spec.type}", supported: {", ".join(supported_types())}',
                )
            ],
            subject="MetricTemplate",
        )
    return factory(spec, credentials, timeout=timeout)
