"""The controller's Prometheus metrics and JSON logs.

Metric names and labels are Flagger's (``pkg/metrics/recorder.go``), so the
dashboards and alerts people already run keep working; the ``gitflagger_``
metrics are our own. Each :class:`Telemetry` owns its registry, so tests (and
two controllers in one process) never share counters.

Logs are structlog JSON lines, one per event, always with ``canary``,
``namespace`` and, when a step ran, ``step``. Nothing that could hold a secret
(URLs with credentials, Secret data, webhook bodies) is ever passed to a log call.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from gitflagger import __version__
from gitflagger.model.canary import Canary
from gitflagger.model.redact import redact_value
from gitflagger.model.status import Phase

STATUS_RUNNING, STATUS_SUCCEEDED, STATUS_FAILED = 0, 1, 2
"""``flagger_canary_status`` values, as Flagger sets them (everything not running or failed reads 1)."""
ANALYSIS_COMPLETED, ANALYSIS_SKIPPED = "completed", "skipped"
"""``analysis_status`` of ``flagger_canary_successes_total``/``failures_total``: Flagger counts a
promotion under ``skipAnalysis`` as ``skipped``, every other end as ``completed``."""
LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
"""``--log-level`` values: Flagger's (zap's) names; ``warning`` is what Flagger's help text says."""


class Telemetry:
    """Every metric the controller exports, registered on a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None, *, mesh_provider: str = "istio") -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.info = Info("flagger", "Flagger version and mesh provider information", registry=r)
        self.info.info({"version": __version__, "mesh_provider": mesh_provider})
        self.canary_total = Gauge(
            "flagger_canary_total", "Total number of canary object", ["namespace"], registry=r
        )
        self.status = Gauge(
            "flagger_canary_status",
            "Last canary analysis result (0 - running, 1 - successful, 2 - failed)",
            ["name", "namespace"],
            registry=r,
        )
        self.weight = Gauge(
            "flagger_canary_weight",
            "The virtual service destination weight current value",
            ["workload", "namespace"],
            registry=r,
        )
        self.duration = Histogram(
            "flagger_canary_duration_seconds",
            "Seconds spent performing canary analysis.",
            ["name", "namespace"],
            registry=r,
        )
        self.metric_analysis = Gauge(
            "flagger_canary_metric_analysis",
            "Last canary analysis result per metric",
            ["name", "namespace", "metric"],
            registry=r,
        )
        self.successes = Counter(
            "flagger_canary_successes",
            "Total number of canary successes",
            ["name", "namespace", "deployment_strategy", "analysis_status"],
            registry=r,
        )
        self.failures = Counter(
            "flagger_canary_failures",
            "Total number of canary failures",
            ["name", "namespace", "deployment_strategy", "analysis_status"],
            registry=r,
        )
        self.commits = Counter(
            "gitflagger_commits", "Step commits recorded in the config repo", ["namespace"], registry=r
        )
        self.push_retries = Counter(
            "gitflagger_push_retries", "Pushes retried after a lost race or a transient error", registry=r
        )
        self.push_failures = Counter(
            "gitflagger_push_failures",
            "Pushes of a chunk's commits the remote did not take (its steps were held back, not applied)",
            registry=r,
        )
        self.steps_waiting_for_push = Gauge(
            "gitflagger_steps_waiting_for_push",
            "Steps of the last pass held back, not applied, because their commit could not be pushed",
            registry=r,
        )
        self.apply_seconds = Histogram(
            "gitflagger_apply_seconds", "Seconds spent applying one step's objects", registry=r
        )
        self.alert_failures = Counter(
            "gitflagger_alert_failures",
            "Alerts a chat service did not accept (the rollout goes on regardless)",
            ["name", "namespace", "service"],
            registry=r,
        )
        self.events = Counter(
            "gitflagger_events",
            "Events emitted on Canaries, by kind (advance, halt, rollback, ...)",
            ["name", "namespace", "kind"],
            registry=r,
        )
        self.reconcile_errors = Counter(
            "gitflagger_reconcile_errors",
            "Unexpected exceptions in one Canary's step (each a Warning Event on it; the others went on)",
            ["namespace", "name"],
            registry=r,
        )
        self.drift = Counter(
            "gitflagger_drift",
            "Live objects found differing from their committed manifest",
            ["name", "namespace", "kind"],
            registry=r,
        )

    def observe_step(self, canary: Canary, phase: Phase | None, primary: int, weight: int) -> None:
        """Status and weights after a step, as Flagger's recorder sets them."""
        ns = canary.namespace
        status = STATUS_SUCCEEDED
        if phase is Phase.PROGRESSING:
            status = STATUS_RUNNING
        elif phase is Phase.FAILED:
            status = STATUS_FAILED
        self.status.labels(canary.target_name, ns).set(status)
        self.weight.labels(canary.primary_name, ns).set(primary)
        self.weight.labels(canary.target_name, ns).set(weight)

    def observe_outcome(self, canary: Canary, before: Phase | None, after: Phase | None) -> None:
        """Count a rollout's end once: on the step that enters Succeeded or Failed."""
        if before is after:
            return
        strategy = canary.spec.analysis.strategy.value
        if after is Phase.SUCCEEDED:
            status = ANALYSIS_SKIPPED if canary.spec.skip_analysis else ANALYSIS_COMPLETED
            self.successes.labels(canary.target_name, canary.namespace, strategy, status).inc()
        elif after is Phase.FAILED:
            self.failures.labels(canary.target_name, canary.namespace, strategy, ANALYSIS_COMPLETED).inc()

    def forget(self, name: str, namespace: str) -> None:
        """Drop the gauges of a deleted Canary (``name`` is its target's, as the series are labelled),
        so a dashboard does not show it forever."""
        with contextlib.suppress(KeyError):
            self.status.remove(name, namespace)


def configure_logging(stream: TextIO | None = None, *, level: int = logging.INFO) -> None:
    """JSON lines on ``stream`` (stderr by default): ``{"event": ..., "canary": ..., "level": ...}``."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def _redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Credentials out of every log line (:mod:`gitflagger.model.redact`), whatever field holds them."""
    return {k: redact_value(v) if isinstance(v, str | Mapping | list) else v for k, v in event.items()}


def logger(**bound: Any) -> Any:
    """A structlog logger with ``bound`` fields on every line."""
    return structlog.get_logger("gitflagger").bind(**bound)
