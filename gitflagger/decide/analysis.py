"""Metric verdicts: is this interval's evidence good enough to advance?

Flagger checks metrics in two passes (``scheduler_metrics.go``): first the
built-in Istio metrics and inline PromQL queries, then the MetricTemplate
metrics, each pass in spec order, and stops at the first failure. Only a value
inside its threshold range passes. No values, a query error, a NaN or a
metric the engine did not observe at all is a failed check: Prometheus being
unreachable must never promote a canary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from gitflagger.decide import messages as msg
from gitflagger.decide.events import Event
from gitflagger.decide.observation import MetricOutcome, MetricResult
from gitflagger.model.canary import BUILTIN_METRICS, MetricCheck

BUILTIN_PROVIDER = "istio"
"""Flagger names the *mesh* provider in its no-values text for built-in metrics."""

NOT_OBSERVED = "metric was not observed"
"""The error recorded for a metric the engine passed no result for."""

_MS = 1_000_000


@dataclass(frozen=True)
class Verdict:
    """The outcome of one interval's metric checks: ``failure`` is None when all passed."""

    failure: Event | None
    checked: tuple[str, ...]
    """Names of the metrics looked at, in order, up to and including the failing one."""

    @property
    def passed(self) -> bool:
        return self.failure is None


def is_builtin(metric: MetricCheck) -> bool:
    return metric.name in BUILTIN_METRICS and metric.template_ref is None and metric.query is None


def evaluation_order(metrics: tuple[MetricCheck, ...]) -> tuple[MetricCheck, ...]:
    """Built-in and inline-query metrics first, then template metrics (Flagger's two passes)."""
    first = tuple(m for m in metrics if m.template_ref is None)
    return first + tuple(m for m in metrics if m.template_ref is not None)


def evaluate(
    names: msg.Names, metrics: tuple[MetricCheck, ...], results: Mapping[str, MetricResult]
) -> Verdict:
    checked: list[str] = []
    for metric in evaluation_order(metrics):
        checked.append(metric.name)
        result = results.get(metric.name) or MetricResult.failed(metric.name, NOT_OBSERVED)
        failure = _check(names, metric, result)
        if failure is not None:
            return Verdict(failure, tuple(checked))
    return Verdict(None, tuple(checked))


def _check(names: msg.Names, metric: MetricCheck, result: MetricResult) -> Event | None:
    value = result.value
    no_values = result.outcome is MetricOutcome.NO_VALUES or (
        result.outcome is MetricOutcome.VALUE and (value is None or not math.isfinite(value))
    )
    if no_values:
        return _no_values(names, metric, result)
    if result.outcome is MetricOutcome.ERROR or value is None:
        return _query_failed(metric, result.error or "unknown error")
    bounds = metric.threshold_range
    if is_builtin(metric) and metric.name == "request-duration":
        return _check_duration(names, value, bounds.min, bounds.max)
    if is_builtin(metric):
        if bounds.min is not None and value < bounds.min:
            return msg.success_rate_below(names, value, bounds.min)
        if bounds.max is not None and value > bounds.max:
            return msg.success_rate_above(names, value, bounds.max)
        return None
    if bounds.min is not None and value < bounds.min:
        return msg.metric_below(names, metric.name, value, bounds.min)
    if bounds.max is not None and value > bounds.max:
        return msg.metric_above(names, metric.name, value, bounds.max)
    return None


def _check_duration(names: msg.Names, value: float, low: float | None, high: float | None) -> Event | None:
    """Compare as Go does: the P99 value in ms truncated to a whole ``time.Duration`` of ms.

    Flagger's observer returns ``time.Duration(int64(value)) * time.Millisecond``
    and converts each bound with ``time.Duration(bound) * time.Millisecond``, so
    both sides are truncated to whole milliseconds before comparing.
    """
    value_ns = math.trunc(value) * _MS
    if low is not None and value_ns < math.trunc(low) * _MS:
        return msg.duration_below(names, value_ns, math.trunc(low) * _MS)
    if high is not None and value_ns > math.trunc(high) * _MS:
        return msg.duration_above(names, value_ns, math.trunc(high) * _MS)
    return None


def _no_values(names: msg.Names, metric: MetricCheck, result: MetricResult) -> Event:
    if is_builtin(metric):
        return msg.builtin_no_values(names, BUILTIN_PROVIDER, metric.name)
    if metric.template_ref is None:
        return msg.inline_no_values(metric.name)
    return msg.custom_no_values(metric.name, result.error or "no values found")


def _query_failed(metric: MetricCheck, error: str) -> Event:
    if is_builtin(metric):
        return msg.builtin_query_failed(error)
    if metric.template_ref is None:
        return msg.inline_query_failed(metric.name, error)
    return msg.custom_query_failed(metric.name, error)
