"""The scratchpad one decision is built on, and its conversion to a frozen :class:`Decision`.

The state machine reads much like Flagger's ``advanceCanary``: a sequence of
checks with early returns. Each check writes what it decided onto a
:class:`DecisionDraft` (events, actions, state changes, the commit subject),
and :meth:`DecisionDraft.finish` turns the result into an immutable Decision.
The draft is local to one call of ``decide``; nothing mutable escapes. (What
the config repo records of a step is
:class:`gitflagger.adapters.git.recorder.RecordedStep`.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitflagger.decide import messages as msg
from gitflagger.decide.affinity import settle
from gitflagger.decide.decision import Action, Decision, Routes
from gitflagger.decide.events import Event
from gitflagger.decide.gates import GateBook
from gitflagger.decide.observation import ManualIntent, Observation
from gitflagger.decide.weights import current_routes
from gitflagger.model.canary import Analysis, Canary, WebhookType
from gitflagger.model.status import Condition, Phase, State


@dataclass
class DecisionDraft:
    canary: Canary
    before: State
    obs: Observation
    book: GateBook
    names: msg.Names
    state: State
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    webhooks: list[WebhookType] = field(default_factory=list)
    subject: str = "no change"
    primary_from_target: bool = False
    handled_intent: ManualIntent | None = None

    @classmethod
    def start(cls, canary: Canary, state: State, obs: Observation, book: GateBook) -> DecisionDraft:
        return cls(canary, state, obs, book, msg.Names.of(canary), state)

    @property
    def analysis(self) -> Analysis:
        return self.canary.spec.analysis

    @property
    def phase(self) -> Phase | None:
        """The phase this step started from (never the one it is moving to)."""
        return self.before.phase

    def emit(self, *events: Event) -> None:
        self.events.extend(events)

    def act(self, *actions: Action) -> None:
        self.actions.extend(a for a in actions if a not in self.actions)

    def set(self, **changes: object) -> None:
        self.state = self.state.evolve(**changes)

    def say(self, summary: str) -> None:
        """The commit subject, ``<name>.<namespace>: <summary>`` in lower-case event style."""
        self.subject = summary

    def enter(self, phase: Phase, *, restart: bool = False) -> None:
        """Move to ``phase``: a new transition time and the matching ``Promoted`` condition.

        ``restart`` marks a new transition into the same phase (a revision that
        restarts the analysis), which restarts the progress-deadline clock too.
        """
        now = self.obs.now
        if phase is not self.state.phase or restart:
            self.set(phase=phase, last_transition_time=now)
        status, message = msg.condition_message(phase.value, self.names.kind)
        current = self.state.condition
        if current is not None and current.status == status and current.reason == phase.value:
            return
        since = current.last_transition_time if current and current.status == status else now
        self.set(
            condition=Condition(
                status=status,
                reason=phase.value,
                message=message,
                last_update_time=now,
                last_transition_time=since,
            )
        )

    def post_rollout(self) -> None:
        if self.analysis.webhooks_of(WebhookType.POST_ROLLOUT):
            self.webhooks.append(WebhookType.POST_ROLLOUT)

    def ignore_intent(self, intent: ManualIntent, reason: str) -> None:
        self.handled_intent = intent
        self.emit(msg.intent_ignored(self.names, intent.value, reason))

    def finish(self) -> Decision:
        weights = current_routes(self.analysis, self.state)
        seed = f"{self.canary.uid}/{self.state.last_applied_spec}"
        self.state = settle(self.analysis.session_affinity, self.state, weights.canary, seed)
        routes = current_routes(self.analysis, self.state)
        changed = (
            _material(self.state) != _material(self.before)
            or routes != current_routes(self.analysis, self.before)
            or bool(self.actions)
        )
        state = self.state.evolve(
            last_step_time=self.obs.now,
            step=self.before.step + 1 if changed else self.before.step,
        )
        return Decision(
            state=state,
            routes=routes,
            actions=tuple(a for a in Action if a in self.actions),
            events=tuple(self.events),
            webhooks=tuple(self.webhooks),
            subject=f"{self.canary.key}: {self.subject}",
            primary_from_target=self.primary_from_target,
            changed=changed,
            handled_intent=self.handled_intent,
        )


def _material(state: State) -> State:
    """The part of a state whose change is worth a commit (bookkeeping fields blanked)."""
    return state.evolve(last_step_time=None, step=0, last_commit="")


def routes_of(step: DecisionDraft) -> Routes:
    """The routes as they stand at the start of the step."""
    return current_routes(step.analysis, step.before)
