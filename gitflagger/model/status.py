"""Canary status as a frozen :class:`State`, with explicit storage.

``State.from_status(obj["status"])`` reads what the controller persisted (or what
Flagger persisted: the field names are Flagger's), ``decide`` returns a new
``State``, and ``state.to_status()`` is what gets written back to the status
subresource and to the ``canary.yaml`` snapshot in the config repo.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class Phase(StrEnum):
    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"

    @property
    def in_flight(self) -> bool:
        """A rollout is under way: traffic may be split and the canary is scaled up."""
        return self in _IN_FLIGHT


_IN_FLIGHT = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING})


@dataclass(frozen=True)
class Condition:
    """The ``Promoted`` condition Flagger keeps on every Canary."""

    status: str = "Unknown"
    reason: str = ""
    message: str = ""
    last_update_time: datetime | None = None
    last_transition_time: datetime | None = None
    type: str = "Promoted"


@dataclass(frozen=True)
class State:
    """Everything the decision core remembers between two steps of one Canary."""

    phase: Phase | None = None
    """``None`` means the Canary has never been reconciled."""
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str = ""
    last_promoted_spec: str = ""
    tracked_configs: Mapping[str, str] = field(default_factory=dict)
    last_transition_time: datetime | None = None
    last_step_time: datetime | None = None
    last_commit: str = ""
    step: int = 0
    """Step counter within the current revision; part of the ``Step-Id`` commit trailer."""
    mirrored: bool = False
    """The mirror step (``analysis.mirror``) has run for this revision."""
    condition: Condition | None = None
    session_affinity_cookie: str = ""
    """``name=value`` of this rollout's sticky cookie (Flagger's ``sessionAffinityCookie``)."""
    previous_session_affinity_cookie: str = ""
    """The last rollout's cookie, which the VirtualService now expires (``previousSessionAffinityCookie``)."""
    primary_session_affinity_cookie: str = ""
    """``name=value`` of the cookie pinning users to the primary (``primarySessionAffinityCookie``)."""

    def evolve(self, **changes: Any) -> State:
        return replace(self, **changes)

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> State:
        """Read a Canary's ``status`` (Flagger's or gitflagger's); unknown fields are ignored."""
        if not status or not isinstance(status, Mapping):
            return cls()
        phase_text = status.get("phase")
        phase = (
            Phase(phase_text)
            if isinstance(phase_text, str) and phase_text in Phase._value2member_map_
            else None
        )
        cond = None
        conditions = status.get("conditions")
        for c in conditions if isinstance(conditions, list) else ():
            if isinstance(c, Mapping) and c.get("type") == "Promoted":
                cond = Condition(
                    status=str(c.get("status", "Unknown")),
                    reason=str(c.get("reason", "")),
                    message=str(c.get("message", "")),
                    last_update_time=parse_time(c.get("lastUpdateTime")),
                    last_transition_time=parse_time(c.get("lastTransitionTime")),
                )
        tracked = status.get("trackedConfigs")
        if not isinstance(tracked, Mapping):
            tracked = {}
        return cls(
            phase=phase,
            canary_weight=min(_count(status.get("canaryWeight")), 100),
            failed_checks=_count(status.get("failedChecks")),
            iterations=_count(status.get("iterations")),
            last_applied_spec=str(status.get("lastAppliedSpec") or ""),
            last_promoted_spec=str(status.get("lastPromotedSpec") or ""),
            tracked_configs={str(k): str(v) for k, v in tracked.items()},
            last_transition_time=parse_time(status.get("lastTransitionTime")),
            last_step_time=parse_time(status.get("lastStepTime")),
            last_commit=str(status.get("lastCommit") or ""),
            step=_count(status.get("step")),
            mirrored=bool(status.get("mirrored") or False),
            condition=cond,
            session_affinity_cookie=_text(status.get("sessionAffinityCookie")),
            previous_session_affinity_cookie=_text(status.get("previousSessionAffinityCookie")),
            primary_session_affinity_cookie=_text(status.get("primarySessionAffinityCookie")),
        )

    def to_status(self) -> dict[str, Any]:
        """The status subresource body: Flagger's fields plus gitflagger's own."""
        out: dict[str, Any] = {
            "phase": self.phase.value if self.phase else "",
            "canaryWeight": self.canary_weight,
            "failedChecks": self.failed_checks,
            "iterations": self.iterations,
            "lastAppliedSpec": self.last_applied_spec,
            "lastPromotedSpec": self.last_promoted_spec,
        }
        if self.tracked_configs:
            out["trackedConfigs"] = dict(sorted(self.tracked_configs.items()))
        if self.last_transition_time:
            out["lastTransitionTime"] = format_time(self.last_transition_time)
        if self.last_step_time:
            out["lastStepTime"] = format_time(self.last_step_time)
        if self.last_commit:
            out["lastCommit"] = self.last_commit
        out["step"] = self.step
        if self.mirrored:
            out["mirrored"] = True
        if self.session_affinity_cookie:
            out["sessionAffinityCookie"] = self.session_affinity_cookie
        if self.previous_session_affinity_cookie:
            out["previousSessionAffinityCookie"] = self.previous_session_affinity_cookie
        if self.primary_session_affinity_cookie:
            out["primarySessionAffinityCookie"] = self.primary_session_affinity_cookie
        if self.condition:
            c = self.condition
            cond: dict[str, Any] = {
                "type": c.type,
                "status": c.status,
                "reason": c.reason,
                "message": c.message,
            }
            if c.last_update_time:
                cond["lastUpdateTime"] = format_time(c.last_update_time)
            if c.last_transition_time:
                cond["lastTransitionTime"] = format_time(c.last_transition_time)
            out["conditions"] = [cond]
        return out


def _count(value: Any) -> int:
    """A non-negative integer status field; anything else (hand-edited garbage) reads as 0.

    Status is gitflagger's own memory, not user input: a field it cannot read is
    treated as unset rather than stopping the controller for this Canary.
    """
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def _text(value: Any) -> str:
    """A string status field; anything else (hand-edited garbage) reads as unset."""
    return value if isinstance(value, str) else ""


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 (``2026-11-29T10:00:00Z``) to an aware datetime; anything else is ``None``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """Kubernetes' ``metav1.Time`` form: UTC, second precision, ``Z`` suffix."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
