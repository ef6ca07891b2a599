"""What the decision core answers: the new state, the routes, the actions and the events."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from gitflagger.decide.events import Event
from gitflagger.decide.observation import ManualIntent
from gitflagger.model.canary import WebhookType
from gitflagger.model.status import State


@dataclass(frozen=True)
class Routes:
    """Traffic weights for the VirtualService. ``primary + canary == 100`` always."""

    primary: int = 100
    canary: int = 0
    mirror: bool = False
    """Mirror the primary's traffic to the canary (``analysis.mirror``)."""
    match: bool = False
    """The weights apply only to requests matching ``analysis.match`` (A/B testing).

    Every other request goes to the primary, the way Flagger's Istio router
    writes a match route (primary/canary weights) followed by a default route
    to the primary. ``Routes(0, 100, match=True)`` is Flagger's A/B iteration.
    """
    sticky_cookie: str = field(default="", repr=False)
    """``name=value``: requests carrying it go to the canary, whose responses set it
    (``analysis.sessionAffinity`` while the canary has weight)."""
    expired_cookie: str = field(default="", repr=False)
    """``name=value`` of the last rollout's cookie: its holders are told to drop it."""
    primary_cookie: str = field(default="", repr=False)
    """``name=value``: requests carrying it go to the primary, whose responses set it
    (``sessionAffinity.primaryCookieName`` while the canary has weight)."""

    def __post_init__(self) -> None:
        if self.primary + self.canary != 100 or min(self.primary, self.canary) < 0:
            raise ValueError(f"route weights must be non-negative and sum to 100, got {self}")


class Action(StrEnum):
    """Side effects the engine carries out for a decision, in this order."""

    INITIALIZE = "initialize"
    """Create the primary Deployment (and HPA, config copies) and the routing objects."""
    SCALE_CANARY_UP = "scale-canary-up"
    PROMOTE = "promote"
    """Copy the target's pod template and config to the primary."""
    SCALE_CANARY_DOWN = "scale-canary-down"


@dataclass(frozen=True)
class Decision:
    state: State
    routes: Routes
    actions: tuple[Action, ...] = ()
    events: tuple[Event, ...] = ()
    webhooks: tuple[WebhookType, ...] = ()
    """Fire-and-forget webhooks to run after this step (``post-rollout``)."""
    subject: str = ""
    """One line for the commit subject: ``podinfo.test: advance canary weight 20``."""
    primary_from_target: bool = False
    """Render the primary from the target's current template and config (promotion and init)."""
    changed: bool = False
    """The state (beyond ``last_step_time``), the routes or the actions changed.

    A step that only repeats a halt message changes nothing: the engine records
    no commit for it and ``state.step`` stays where it was.
    """
    handled_intent: ManualIntent | None = None
    """The operator's intent this decision consumed, acted on or ignored (with an event
    saying why). The engine removes it from the queue; a suspended Canary consumes none."""
