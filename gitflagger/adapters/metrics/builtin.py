"""Flagger's two built-in Istio checks, as the exact PromQL Flagger sends.

The templates below are Flagger's (``pkg/metrics/observers/istio.go``) line for
line, tabs and trailing spaces included, so that after whitespace collapsing the
text on the wire is byte-for-byte what Flagger sends. Dashboards, recording rules
and habits built around Flagger's queries keep working.

Only the destination workload is selected (``destination_workload=~"<target>"``):
the canary's own pods, never the primary's, over the metric's ``interval``.
"""

from __future__ import annotations

from types import MappingProxyType

from gitflagger.model.templates import render_query

REQUEST_SUCCESS_RATE = "request-success-rate"
REQUEST_DURATION = "request-duration"

_SUCCESS_RATE = "\n".join(
    (
        "",
        "\tsum(",
        "\t\trate(",
        "\t\t\tistio_requests_total{",
        '\t\t\t\treporter="destination",',
        '\t\t\t\tdestination_workload_namespace="{{ namespace }}",',
        '\t\t\t\tdestination_workload=~"{{ target }}",',
        '\t\t\t\tresponse_code!~"5.*"',
        "\t\t\t}[{{ interval }}]",
        "\t\t)",
        "\t) ",
        "\t/ ",
        "\tsum(",
        "\t\trate(",
        "\t\t\tistio_requests_total{",
        '\t\t\t\treporter="destination",',
        '\t\t\t\tdestination_workload_namespace="{{ namespace }}",',
        '\t\t\t\tdestination_workload=~"{{ target }}"',
        "\t\t\t}[{{ interval }}]",
        "\t\t)",
        "\t) ",
        "\t* 100",
    )
)

_DURATION = "\n".join(
    (
        "",
        "\thistogram_quantile(",
        "\t\t0.99,",
        "\t\tsum(",
        "\t\t\trate(",
        "\t\t\t\tistio_request_duration_milliseconds_bucket{",
        '\t\t\t\t\treporter="destination",',
        '\t\t\t\t\tdestination_workload_namespace="{{ namespace }}",',
        '\t\t\t\t\tdestination_workload=~"{{ target }}"',
        "\t\t\t\t}[{{ interval }}]",
        "\t\t\t)",
        "\t\t) by (le)",
        "\t)",
    )
)

ISTIO_QUERIES = MappingProxyType({REQUEST_SUCCESS_RATE: _SUCCESS_RATE, REQUEST_DURATION: _DURATION})
"""Query templates by built-in metric name: success rate in percent, p99 duration in milliseconds."""


def is_builtin(name: str) -> bool:
    return name in ISTIO_QUERIES


def builtin_query(name: str, *, namespace: str, target: str, interval: str) -> str:
    """The rendered (not yet whitespace-collapsed) query of a built-in metric.

    >>> from gitflagger.adapters.metrics.prometheus import collapse_whitespace
    >>> collapse_whitespace(builtin_query("request-duration", namespace="test", target="podinfo",
    ...                                   interval="1m"))[:60]
    ' histogram_quantile( 0.99, sum( rate( istio_request_duration'
    """
    template = ISTIO_QUERIES.get(name)
    if template is None:
        raise KeyError(f"{name!r} is not a built-in metric (built-ins: {', '.join(ISTIO_QUERIES)})")
    return render_query(
        template, name=target, namespace=namespace, target=target, service=target, interval=interval
    )
