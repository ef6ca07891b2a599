"""Metrics providers: run a query, get a float, or a typed reason why not.

- :mod:`.provider`: the ``MetricsProvider`` protocol, ``NoValuesFound``, ``QueryFailed``, ``measure``;
- :mod:`.prometheus`: the Prometheus HTTP API client;
- one module per other provider (:mod:`.datadog`, :mod:`.newrelic`, :mod:`.dynatrace`,
  :mod:`.graphite`, :mod:`.influxdb`, :mod:`.cloudwatch`, :mod:`.stackdriver`, :mod:`.keptn`,
  :mod:`.externalmetrics`, :mod:`.splunk`),
  sharing :mod:`.http` (masked, typed HTTP exchanges) and :mod:`.context` (interval, timeout, cluster);
- :mod:`.registry`: providers by ``spec.provider.type``;
- :mod:`.builtin`: Flagger's Istio queries for the two built-in metrics;
- :mod:`.evaluate`: a Canary's ``analysis.metrics`` → ``MetricResult`` per metric;
- :mod:`.availability`: Flagger's online check of those providers while a Canary initializes.
"""

from gitflagger.adapters.metrics.builtin import ISTIO_QUERIES, builtin_query, is_builtin
from gitflagger.adapters.metrics.evaluate import evaluate_metrics
from gitflagger.adapters.metrics.prometheus import PrometheusProvider, collapse_whitespace
from gitflagger.adapters.metrics.provider import MetricsProvider, NoValuesFound, QueryFailed, measure
from gitflagger.adapters.metrics.registry import PROVIDERS, provider_for, supported_types

__all__ = [
    "ISTIO_QUERIES",
    "PROVIDERS",
    "MetricsProvider",
    "NoValuesFound",
    "PrometheusProvider",
    "QueryFailed",
    "builtin_query",
    "collapse_whitespace",
    "evaluate_metrics",
    "is_builtin",
    "measure",
    "provider_for",
    "supported_types",
]
