"""What happened in a step, as data: an :class:`EventKind`, a :class:`Severity` and a text.

Who gets paged, what the metrics count and which ``eventType`` a webhook sees
depend on the kind and the severity only. The text is Flagger's wording, kept
exact for people reading Events and chat, and free to change: rewording a
message in :mod:`gitflagger.decide.messages` changes no alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """Flagger's alert severities, ordered: ``info`` < ``warn`` < ``error``."""

    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARN: 1, Severity.ERROR: 2}


class EventKind(StrEnum):
    """What an event reports, following the points where Flagger's scheduler emits one."""

    INITIALIZED = "initialized"
    """The primary exists and receives all traffic (``setPhaseInitialized``)."""
    NEW_REVISION = "new-revision"
    """A new revision of the target starts (or restarts) a rollout."""
    RETRY = "retry"
    """``gitflagger retry`` starts a failed rollout again."""
    WAITING_APPROVAL = "waiting-approval"
    """A ``confirm-*`` gate said no: the rollout halts until it says yes."""
    GATE_PASSED = "gate-passed"
    """A ``confirm-*`` or ``pre-rollout`` gate said yes."""
    GATE_FAILED = "gate-failed"
    """A ``pre-rollout`` or ``rollout`` check failed: a failed check is counted."""
    ROLLBACK_CHECK = "rollback-check"
    """A ``rollback`` webhook's answer (quiet, triggered or missing)."""
    NOT_READY = "not-ready"
    """The target or primary is not ready: the step halts."""
    ANALYSIS_STARTED = "analysis-started"
    HALT = "halt"
    """A metric is outside its threshold: a failed check is counted."""
    METRIC_ERROR = "metric-error"
    """A metric has no value or its query failed: a failed check is counted."""
    ADVANCE = "advance"
    """Traffic moves towards the canary (weight, iteration, or all of it)."""
    ROUTE_TO_PRIMARY = "route-to-primary"
    """All traffic goes back to the primary (after a promotion or a rollback)."""
    INTENT = "intent"
    """An operator's manual intent was taken, or ignored with the reason."""
    PROMOTE = "promote"
    """The target's spec is copied to the primary."""
    PROMOTED = "promoted"
    """The rollout succeeded."""
    ROLLBACK = "rollback"
    """The rollout is being rolled back (threshold, deadline, rollback webhook, abort)."""
    FAILED = "failed"
    """The rollout failed and the canary is scaled down."""
    DRIFT = "drift"
    """A live object differs from its committed manifest (the engine's, not the core's)."""
    PROVIDERS = "providers"
    """Whether the metric providers are online, checked while initializing (Flagger's
    ``checkMetricProviderAvailability``)."""


NEWS = frozenset({EventKind.NEW_REVISION, EventKind.PROMOTED})
"""Kinds worth an alert even at ``info``: a rollout's start and its successful end."""
QUIET = frozenset({EventKind.PROVIDERS})
"""Kinds never alerted on, warnings included: Flagger only records them (``recordEventErrorf``)."""


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the Canary: its kind, its severity and Flagger's exact text."""

    kind: EventKind
    severity: Severity
    message: str
    muted: bool = False
    """Recorded but never alerted on: a ``confirm-*`` gate with ``muteAlert: true`` said no
    (Flagger's ``if !webhook.MuteAlert`` around its ``c.alert`` calls in ``scheduler_hooks.go``)."""

    @property
    def warning(self) -> bool:
        """A Kubernetes ``Warning`` Event (and ``eventType: Warning`` on event webhooks)."""
        return self.severity is not Severity.INFO

    @property
    def alerts(self) -> bool:
        """Flagger alerts on a rollout's start and end and on every warning but the quiet and muted ones."""
        return (self.warning or self.kind in NEWS) and self.kind not in QUIET and not self.muted
