"""The decision core: a pure state machine from (Canary, State, Observation) to Decision.

``decide`` says what one step of a rollout does; ``gates_due`` and
``metrics_due`` tell the engine which webhook answers and metric values that
step needs, so it can gather them before calling ``decide``.
"""

from gitflagger.decide.decision import Action, Decision, Routes
from gitflagger.decide.events import Event, EventKind, Severity
from gitflagger.decide.machine import decide, gates_due, metrics_due
from gitflagger.decide.observation import (
    ManualIntent,
    MetricOutcome,
    MetricResult,
    Observation,
    WebhookResult,
    WorkloadHealth,
)
from gitflagger.decide.weights import current_routes

__all__ = [
    "Action",
    "Decision",
    "Event",
    "EventKind",
    "ManualIntent",
    "MetricOutcome",
    "MetricResult",
    "Observation",
    "Routes",
    "Severity",
    "WebhookResult",
    "WorkloadHealth",
    "current_routes",
    "decide",
    "gates_due",
    "metrics_due",
]
