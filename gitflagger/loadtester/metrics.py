"""The load tester's Prometheus metrics, in a registry of their own.

Flagger's load tester exports only Go runtime metrics, so there are no names to keep
compatible with; these use a ``gitflagger_loadtester_`` prefix. Each server gets its
own :class:`CollectorRegistry` rather than the process-wide default, so two servers
in one process (tests, or an embedding) never collide and ``/metrics`` shows exactly
this server's numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

PREFIX = "gitflagger_loadtester"


class LoadTesterMetrics:
    """Counters for tasks and gates. Label values are small fixed sets, never canary names."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.tasks_started = Counter(
            f"{PREFIX}_tasks_started_total", "Tasks whose process was started, by task type", ["type"],
            registry=r,
        )
        self.tasks_failed = Counter(
            f"{PREFIX}_tasks_failed_total",
            "Tasks that exited non-zero, were killed or timed out, by task type", ["type"], registry=r,
        )
        self.tasks_skipped = Counter(
            f"{PREFIX}_tasks_skipped_total",
            "Background tasks not started because the same command was already running for the canary",
            registry=r,
        )
        self.tasks_refused = Counter(
            f"{PREFIX}_tasks_refused_total",
            "Task requests refused before anything ran, by reason "
            "(invalid, not_allowed, file_argument, bash_disabled, unknown_type)",
            ["reason"], registry=r,
        )
        self.tasks_running = Gauge(
            f"{PREFIX}_tasks_running", "Background tasks running now", registry=r,
        )
        self.gate_checks = Counter(
            f"{PREFIX}_gate_checks_total",
            "Gate checks by gate (confirm or rollback) and result (open or closed)",
            ["gate", "result"], registry=r,
        )
        self.gate_repo_errors = Counter(
            f"{PREFIX}_gate_repo_errors_total",
            "Gate repo lookups that failed; the git gate then counts as closed", registry=r,
        )

    def exposition(self) -> bytes:
        """The text format served on ``/metrics``."""
        return generate_latest(self.registry)
