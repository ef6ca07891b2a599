"""When each Canary's next step is due: its own ``analysis.interval`` after its last step.

The schedule lives in the Canary itself (``status.lastStepTime``, written with
every step), not in the controller's memory. A restarted controller, or a new
leader after a failover, therefore never steps a Canary early: it reads when
the last step happened and waits out the rest of the interval. Pure functions,
so the rule is tested without a clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from gitflagger.model.canary import DEFAULT_INTERVAL
from gitflagger.model.durations import parse_duration
from gitflagger.model.parse_analysis import MIN_INTERVAL
from gitflagger.model.status import parse_time

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
""""Due since forever": a Canary that never stepped, or one that needs attention now."""


def interval_of(canary_obj: Mapping[str, Any]) -> timedelta:
    """``analysis.interval`` (or ``canaryAnalysis.interval``) read leniently, clamped to at least 10s.

    Lenient on purpose: an invalid Canary still needs a pace at which the
    controller looks at it again, and the validation error is reported by the
    reconcile itself, not here.
    """
    spec = canary_obj.get("spec") or {}
    analysis = spec.get("analysis") or spec.get("canaryAnalysis") or {}
    raw = analysis.get("interval") if isinstance(analysis, Mapping) else None
    seconds = DEFAULT_INTERVAL.seconds
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):
            seconds = parse_duration(raw).seconds
    return timedelta(seconds=max(seconds, MIN_INTERVAL.seconds))


def due_at(canary_obj: Mapping[str, Any]) -> datetime:
    """When the Canary's next step is due.

    * being deleted: now (the finalizer must not wait an interval);
    * never stepped (no ``lastStepTime``): now;
    * otherwise ``lastStepTime + interval``.
    """
    meta = canary_obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return EPOCH
    status = canary_obj.get("status") or {}
    last = parse_time(status.get("lastStepTime")) if isinstance(status, Mapping) else None
    if last is None:
        return EPOCH
    return last + interval_of(canary_obj)


def due(canaries: Iterable[Mapping[str, Any]], now: datetime) -> list[Mapping[str, Any]]:
    """The Canaries due at ``now``, most overdue first (a fair order when a pass runs long)."""
    ready = [c for c in canaries if due_at(c) <= now]
    return sorted(ready, key=due_at)


def next_due(canaries: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The earliest due time among ``canaries``; ``None`` when there are none."""
    times = [due_at(c) for c in canaries]
    return min(times) if times else None
