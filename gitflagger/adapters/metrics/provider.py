"""The interface every metrics provider implements, and its two typed failures.

Like Flagger's ``providers.Interface`` (``RunQuery``, ``IsOnline``), a provider
answers one float or raises. The two failures are kept apart because they mean
different things to the analysis: :class:`NoValuesFound` (the query ran, nothing
matched: probably no traffic) and :class:`QueryFailed` (the query could not run:
provider down, timeout, bad query). :func:`measure` is the single place where
both become a :class:`~gitflagger.decide.observation.MetricResult`, so no provider
exception ever reaches the engine.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from gitflagger.decide.observation import MetricResult
from gitflagger.errors import GitflaggerError, TemporaryError


class NoValuesFound(GitflaggerError):
    """The query returned no samples, or only NaN (``0/0`` when no requests were made)."""


class QueryFailed(TemporaryError):
    """The query could not be answered. The message is safe to show: it carries no credentials."""


@runtime_checkable
class MetricsProvider(Protocol):
    """One metrics backend (Prometheus today; Datadog, CloudWatch... one file each later)."""

    @property
    def type(self) -> str:
        """The ``spec.provider.type`` this provider serves, e.g. ``prometheus``."""
        ...

    def run_query(self, query: str) -> float:
        """Run ``query`` and return its value; raise :class:`NoValuesFound` or :class:`QueryFailed`."""
        ...

    def is_online(self) -> bool:
        """True when the backend answers a trivial query correctly. Never raises."""
        ...


def measure(provider: MetricsProvider, name: str, query: str) -> MetricResult:
    """Run ``query`` and translate the outcome into a :class:`MetricResult` named ``name``."""
    who = provider.type
    try:
        return MetricResult.of(name, provider.run_query(query), provider=who)
    except NoValuesFound:
        return MetricResult.no_values(name, provider=who)
    except QueryFailed as err:
        return MetricResult.failed(name, str(err), provider=who)
