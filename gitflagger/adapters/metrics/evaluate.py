"""Turn a Canary's ``analysis.metrics`` into one :class:`MetricResult` per metric.

This is the "metric samples" part of the observe stage. Each metric is one of:

- a ``templateRef``: the MetricTemplate's query, rendered with the Canary's
  names and ``templateVariables``, run by the template's own provider;
- a legacy inline ``query`` (v1alpha3): run as written on the default metrics server;
- a built-in (``request-success-rate``, ``request-duration``): Flagger's Istio
  query on the default metrics server.

(In that order of precedence, when a metric has more than one.)

Nothing here raises for a single bad metric: a missing template or Secret, a
query that does not render, an unknown provider type, an unreachable server all
become ``MetricResult.failed`` with the reason, so the decision core counts a
failed check and the other metrics are still measured. Prometheus unreachable
therefore never promotes.

Values are passed on as measured: the decision core applies Flagger's
comparisons (e.g. the p99 truncated to whole milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping

from gitflagger.adapters.metrics.builtin import builtin_query, is_builtin
from gitflagger.adapters.metrics.context import KubeApi, ObjectReader
from gitflagger.adapters.metrics.provider import MetricsProvider, measure
from gitflagger.adapters.metrics.registry import provider_for
from gitflagger.decide.observation import MetricResult
from gitflagger.errors import ValidationError
from gitflagger.model.canary import Canary, MetricCheck
from gitflagger.model.templates import MetricProviderSpec, MetricTemplate, render_query

ObjectKey = tuple[str, str]
"""``(namespace, name)`` of a MetricTemplate or a Secret."""


def evaluate_metrics(
    canary: Canary,
    templates: Mapping[ObjectKey, MetricTemplate],
    secrets: Mapping[ObjectKey, Mapping[str, str]],
    default_address: str,
    *,
    timeout: float | None = None,
    kube: ObjectReader | None = None,
    kube_api: KubeApi | None = None,
) -> dict[str, MetricResult]:
    """Measure every metric of ``canary``'s analysis, keyed by metric name, in spec order.

    ``templates`` holds the MetricTemplates the Canary may reference and ``secrets``
    the decoded data of the Secrets they name (see ``model.templates.decode_secret_data``).
    ``default_address`` is the ``--metrics-server`` URL used for built-ins and inline queries.
    ``kube`` reads cluster objects for providers that need them (Keptn), ``kube_api``
    GETs API paths (external metrics).
    """
    pool = ProviderPool(secrets, timeout, kube, kube_api)
    try:
        return {
            m.name: _evaluate(canary, m, templates, default_address, pool)
            for m in canary.spec.analysis.metrics
        }
    finally:
        pool.close()


def _evaluate(
    canary: Canary,
    metric: MetricCheck,
    templates: Mapping[ObjectKey, MetricTemplate],
    default_address: str,
    pool: ProviderPool,
) -> MetricResult:
    interval = str(metric.interval)
    if metric.template_ref is not None:
        key = (metric.template_ref.namespace or canary.namespace, metric.template_ref.name)
        template = templates.get(key)
        if template is None:
            return MetricResult.failed(metric.name, f"MetricTemplate {key[0]}/{key[1]} not found")
        try:
            query = render_query(
                template,
                name=canary.name,
                namespace=canary.namespace,
                target=canary.target_name,
                service=canary.service_name,
                interval=interval,
                variables=metric.template_variables,
            )
            provider = pool.get(template.provider, template.namespace, interval)
        except (ValidationError, LookupError) as err:
            return MetricResult.failed(metric.name, str(err), provider=template.provider.type)
        return measure(provider, metric.name, query)

    if metric.query is None and not is_builtin(metric.name):
        return MetricResult.failed(
            metric.name,
            f'metric "{metric.name}" is not built-in (request-success-rate, request-duration) '
            "and has neither a templateRef nor a query",
        )
    try:
        default = pool.get(MetricProviderSpec(address=default_address), canary.namespace, interval)
    except ValidationError as err:
        return MetricResult.failed(metric.name, f"metrics server (--metrics-server) unusable: {err}")
    if metric.query is not None:
        return measure(default, metric.name, metric.query)
    query = builtin_query(
        metric.name, namespace=canary.namespace, target=canary.target_name, interval=interval
    )
    return measure(default, metric.name, query)


class ProviderPool:
    """Providers built once per evaluation (one HTTP session each), closed afterwards."""

    def __init__(
        self,
        secrets: Mapping[ObjectKey, Mapping[str, str]],
        timeout: float | None,
        kube: ObjectReader | None,
        kube_api: KubeApi | None,
    ) -> None:
        self._secrets = secrets
        self._timeout = timeout
        self._kube = kube
        self._kube_api = kube_api
        self._built: dict[tuple[object, ...], MetricsProvider] = {}
        self._errors: dict[tuple[object, ...], ValidationError] = {}

    def get(self, spec: MetricProviderSpec, namespace: str, interval: str) -> MetricsProvider:
        key = (
            interval,
            spec.region,
            spec.type,
            spec.address,
            spec.secret_ref,
            tuple(sorted(spec.headers.items())),
            spec.insecure_skip_verify,
            namespace,
        )
        if key in self._errors:
            raise self._errors[key]
        if key not in self._built:
            credentials: Mapping[str, str] | None = None
            if spec.secret_ref is not None:
                credentials = self._secrets.get((namespace, spec.secret_ref))
                if credentials is None:
                    raise LookupError(
                        f"Secret {namespace}/{spec.secret_ref} (spec.provider.secretRef) not found"
                    )
            try:
                self._built[key] = provider_for(
                    spec,
                    credentials,
                    timeout=self._timeout,
                    interval=interval,
                    kube=self._kube,
                    kube_api=self._kube_api,
                )
            except ValidationError as err:
                self._errors[key] = err
                raise
        return self._built[key]

    def close(self) -> None:
        for provider in self._built.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()
