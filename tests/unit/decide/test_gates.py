"""gates_due and metrics_due: what the engine must gather before decide runs."""

from __future__ import annotations

import pytest

from gitflagger.decide import decide, gates_due, metrics_due
from gitflagger.decide.observation import Observation
from gitflagger.model.canary import Canary, WebhookType
from gitflagger.model.status import Phase, State

from .builders import NEWER, PROMOTED, canary, hook, in_flight, observe, settled, texts

W = WebhookType
EVERY_GATE = [
    hook("start", W.CONFIRM_ROLLOUT),
    hook("smoke", W.PRE_ROLLOUT),
    hook("load", W.ROLLOUT),
    hook("traffic", W.CONFIRM_TRAFFIC_INCREASE),
    hook("ship", W.CONFIRM_PROMOTION),
    hook("abort", W.ROLLBACK),
    hook("notify", W.POST_ROLLOUT),
    hook("events", W.EVENT),
]
SPEC = canary(webhooks=EVERY_GATE)


@pytest.mark.parametrize(
    ("state", "seen", "due"),
    [
        pytest.param(settled(), observe(revision=PROMOTED), (), id="nothing-to-do"),
        pytest.param(settled(), observe(), (W.CONFIRM_ROLLOUT,), id="new-revision"),
        pytest.param(in_flight(Phase.WAITING), observe(), (W.ROLLBACK, W.CONFIRM_ROLLOUT), id="waiting"),
        pytest.param(
            in_flight(),
            observe(),
            (W.ROLLBACK, W.PRE_ROLLOUT, W.CONFIRM_TRAFFIC_INCREASE),
            id="analysis-starts",
        ),
        pytest.param(
            in_flight(weight=20),
            observe(),
            (W.ROLLBACK, W.ROLLOUT, W.CONFIRM_TRAFFIC_INCREASE),
            id="progressing",
        ),
        pytest.param(
            in_flight(weight=50),
            observe(),
            (W.ROLLBACK, W.ROLLOUT, W.CONFIRM_TRAFFIC_INCREASE, W.CONFIRM_PROMOTION),
            id="promotion-due",
        ),
        pytest.param(
            in_flight(Phase.WAITING_PROMOTION, weight=50),
            observe(),
            (W.ROLLBACK, W.ROLLOUT, W.CONFIRM_PROMOTION),
            id="waiting-promotion",
        ),
        pytest.param(in_flight(weight=20), observe(canary_ready=False), (), id="canary-not-ready"),
        pytest.param(in_flight(weight=20), observe(revision=NEWER), (), id="revision-restart"),
        pytest.param(in_flight(Phase.PROMOTING, weight=50), observe(), (), id="promoting"),
        pytest.param(in_flight(Phase.FINALISING), observe(), (), id="finalising"),
        pytest.param(in_flight(weight=20, failed=5), observe(), (W.ROLLBACK,), id="threshold-reached"),
    ],
)
def test_gates_due(state: State, seen: Observation, due: tuple[WebhookType, ...]) -> None:
    assert gates_due(SPEC, state, seen) == due


def test_answered_gates_are_not_due_again() -> None:
    state = in_flight(weight=20)
    assert gates_due(SPEC, state, observe(webhooks={"abort": False})) == (
        W.ROLLOUT,
        W.CONFIRM_TRAFFIC_INCREASE,
    )


def test_lazy_calling_follows_the_answers() -> None:
    state = in_flight(weight=20)
    assert gates_due(SPEC, state, observe(webhooks={"abort": True})) == ()
    assert gates_due(SPEC, state, observe(webhooks={"abort": False, "load": "timeout"})) == ()


@pytest.mark.parametrize(
    ("spec", "state"),
    [
        pytest.param(SPEC, settled(), id="new-revision"),
        pytest.param(SPEC, in_flight(), id="analysis-starts"),
        pytest.param(SPEC, in_flight(weight=50), id="promotion-due"),
        pytest.param(canary(webhooks=EVERY_GATE, iterations=2), in_flight(iterations=2), id="blue-green"),
    ],
)
def test_calling_the_due_gates_is_enough(spec: Canary, state: State) -> None:
    due = gates_due(spec, state, observe())
    answers = {
        h.name: True for h in spec.spec.analysis.webhooks if h.type in due and h.type is not W.ROLLBACK
    }
    answers.update({h.name: False for h in spec.spec.analysis.webhooks if h.type is W.ROLLBACK})
    decision = decide(spec, state, observe(webhooks=answers))
    assert not any("no result" in m for m in texts(decision))
    assert decision.changed


def test_metrics_due_only_when_the_analysis_judges_them() -> None:
    assert metrics_due(SPEC, in_flight(weight=20), observe()) == ("request-success-rate", "request-duration")
    assert metrics_due(SPEC, in_flight(), observe()) == ()  # first step: pre-rollout only, no traffic yet
    assert metrics_due(SPEC, settled(), observe()) == ()
    assert metrics_due(SPEC, in_flight(weight=20), observe(webhooks={"abort": True})) == ()
