"""Properties of the decision core over random specs and random observation sequences.

Each example drives one Canary through up to 40 steps, gathering gate answers
the way the engine does (only for the types ``gates_due`` names), and checks
the invariants after every step.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gitflagger.decide import Action, Decision, Routes, decide, gates_due
from gitflagger.decide.observation import (
    ManualIntent,
    MetricOutcome,
    MetricResult,
    Observation,
    WebhookResult,
    WorkloadHealth,
)
from gitflagger.decide.weights import max_weight
from gitflagger.model.canary import Canary, Strategy, WebhookType
from gitflagger.model.status import Phase, State

from .builders import DURATION, ERROR_RATE, NEW, NEWER, NOT_READY, NOW, PROMOTED, SUCCESS_RATE, canary, hook

GATES = [
    hook("start", WebhookType.CONFIRM_ROLLOUT),
    hook("smoke", WebhookType.PRE_ROLLOUT),
    hook("load", WebhookType.ROLLOUT),
    hook("traffic", WebhookType.CONFIRM_TRAFFIC_INCREASE),
    hook("ship", WebhookType.CONFIRM_PROMOTION),
    hook("abort", WebhookType.ROLLBACK),
    hook("notify", WebhookType.POST_ROLLOUT),
]
ALL_PRIMARY_PHASES = {
    Phase.INITIALIZING,
    Phase.INITIALIZED,
    Phase.WAITING,
    Phase.FINALISING,
    Phase.SUCCEEDED,
    Phase.FAILED,
}
AB_MATCH = ({"headers": {"x-canary": {"exact": "insider"}}},)


@st.composite
def specs(draw: st.DrawFn) -> Canary:
    kind = draw(st.sampled_from(["canary", "canary", "step-weights", "ab", "blue-green"]))
    analysis: dict[str, Any] = {
        "threshold": draw(st.integers(1, 5)),
        "mirror": draw(st.booleans()),
        "step_weight_promotion": draw(st.sampled_from([0, 0, 10, 30, 60])),
        "step_weight": draw(st.integers(1, 60)),
        "max_weight": draw(st.integers(1, 100)),
    }
    if kind == "step-weights":
        weights = draw(st.lists(st.integers(1, 100), min_size=1, max_size=5, unique=True))
        analysis.update(step_weight=0, step_weights=tuple(sorted(weights)))
    elif kind in ("ab", "blue-green"):
        analysis["iterations"] = draw(st.integers(1, 5))
        if kind == "ab":
            analysis["match"] = AB_MATCH
    return canary(
        webhooks=draw(st.lists(st.sampled_from(GATES), unique_by=lambda h: h.name)),
        metrics=draw(
            st.lists(st.sampled_from([SUCCESS_RATE, DURATION, ERROR_RATE]), unique_by=lambda m: m.name)
        ),
        skip_analysis=draw(st.sampled_from([False] * 9 + [True])),
        progress_deadline_seconds=draw(st.sampled_from([90, 600])),
        **analysis,
    )


@dataclass(frozen=True)
class Moment:
    """What the world looks like at one step, before the engine asks the gates."""

    revision: str
    canary: WorkloadHealth
    primary: WorkloadHealth
    metrics: tuple[tuple[str, MetricResult | None], ...]
    answers: tuple[bool, ...]
    """Gate answers by position in GATES; a ``rollback`` gate's True means "roll back now"."""
    manual: ManualIntent | None


def _metric(name: str, kind: str) -> MetricResult | None:
    good = {"request-success-rate": 99.9, "request-duration": 120.0, "error-rate": 0.1}
    bad = {"request-success-rate": 80.0, "request-duration": 2500.0, "error-rate": 7.5}
    if kind == "good":
        return MetricResult.of(name, good[name])
    if kind == "bad":
        return MetricResult.of(name, bad[name])
    if kind == "no-values":
        return MetricResult.no_values(name)
    if kind == "error":
        return MetricResult.failed(name, "dial tcp 127.0.0.1:9090: connection refused")
    return None


HEALTH = st.sampled_from(
    [WorkloadHealth()] * 4
    + [WorkloadHealth(ready=False, message=NOT_READY), WorkloadHealth(ready=False, deadline_exceeded=True)]
)


@st.composite
def moments(draw: st.DrawFn) -> Moment:
    """Mostly calm intervals (everything ready and measured well), some troubled ones."""
    names = ("request-success-rate", "request-duration", "error-rate")
    calm = draw(st.sampled_from([True] * 7 + [False] * 3))
    kinds = st.just("good") if calm else st.sampled_from(["good", "bad", "no-values", "error", "missing"])
    health = st.just(WorkloadHealth()) if calm else HEALTH
    return Moment(
        revision=draw(st.sampled_from([NEW] * 12 + [NEWER, PROMOTED])),
        canary=draw(health),
        primary=draw(health),
        metrics=tuple((n, _metric(n, draw(kinds))) for n in names),
        answers=tuple(
            draw(st.sampled_from([True] * 4 + [False]))
            if h.type is not WebhookType.ROLLBACK
            else draw(st.sampled_from([False] * 15 + [True]))
            for h in GATES
        ),
        manual=draw(st.sampled_from([None] * 20 + list(ManualIntent))),
    )


def _observe(spec: Canary, state: State, moment: Moment, at: int) -> Observation:
    """Gather answers only for the gates ``gates_due`` names, as the engine does."""
    seen = Observation(
        now=NOW + timedelta(seconds=60 * at),
        revision=moment.revision,
        canary=moment.canary,
        primary=moment.primary,
        metrics={n: r for n, r in moment.metrics if r is not None},
        manual=moment.manual,
    )
    due = gates_due(spec, state, seen)
    answers = {
        h.name: WebhookResult(h.name, ok)
        for h, ok in zip(GATES, moment.answers, strict=True)
        if h.type in due and h in spec.spec.analysis.webhooks
    }
    return replace(seen, webhooks=answers)


def _material(state: State) -> State:
    return state.evolve(last_step_time=None, step=0, last_commit="")


def _check(spec: Canary, before: State, seen: Observation, d: Decision) -> None:
    analysis, after = spec.spec.analysis, d.state
    assert d.routes.primary + d.routes.canary == 100
    assert 0 <= d.routes.canary <= 100
    assert after.failed_checks <= analysis.threshold
    if after.phase in ALL_PRIMARY_PHASES:
        assert d.routes == Routes(100, 0)
    if analysis.strategy is Strategy.CANARY and after.phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
        assert d.routes.canary <= max_weight(analysis)
        assert after.canary_weight <= max_weight(analysis)
    if (
        Action.PROMOTE in d.actions
        and seen.manual is not ManualIntent.PROMOTE
        and not spec.spec.skip_analysis
    ):
        # promotion only on an interval whose every metric had a real value
        for metric in analysis.metrics:
            result = seen.metrics.get(metric.name)
            assert result is not None and result.outcome is MetricOutcome.VALUE
    if (
        before.phase is Phase.FAILED
        and seen.manual is None
        and seen.revision == before.last_applied_spec
        and dict(seen.tracked_configs) == dict(before.tracked_configs)
    ):
        assert after.phase is Phase.FAILED
    assert not any(m.message.endswith("no result") for m in d.events)
    assert after.last_step_time == seen.now
    assert after.step == before.step + (1 if d.changed else 0)
    if not d.changed:
        assert _material(after) == _material(before)
        assert d.actions == ()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec=specs(),
    fresh=st.booleans(),
    timeline=st.lists(moments(), min_size=1, max_size=40),
)
def test_invariants_hold_on_every_step(spec: Canary, fresh: bool, timeline: list[Moment]) -> None:
    state = (
        State()
        if fresh
        else State(phase=Phase.SUCCEEDED, last_applied_spec=PROMOTED, last_promoted_spec=PROMOTED)
    )
    for at, moment in enumerate(timeline):
        seen = _observe(spec, state, moment, at)
        decision = decide(spec, state, seen)
        assert decide(spec, state, seen) == decision  # deterministic: same inputs, same decision
        _check(spec, state, seen, decision)
        if decision.state.phase is not state.phase and decision.state.phase is not None:
            event(f"reached {decision.state.phase.value}")
        state = decision.state


@settings(max_examples=200, deadline=None)
@given(spec=specs(), timeline=st.lists(moments(), min_size=1, max_size=30))
def test_metric_trouble_never_promotes(spec: Canary, timeline: list[Moment]) -> None:
    """With every metric failing to give a value, no rollout is ever promoted by its analysis."""
    if not spec.spec.analysis.metrics or spec.spec.skip_analysis:
        return
    state = State(phase=Phase.SUCCEEDED, last_applied_spec=PROMOTED, last_promoted_spec=PROMOTED)
    for at, moment in enumerate(timeline):
        broken = tuple(
            (n, MetricResult.failed(n, "timeout") if at % 2 else MetricResult.no_values(n))
            for n, _ in moment.metrics
        )
        moment = replace(moment, metrics=broken, manual=None)
        seen = _observe(spec, state, moment, at)
        decision = decide(spec, state, seen)
        assert Action.PROMOTE not in decision.actions
        assert decision.state.phase not in (Phase.PROMOTING, Phase.FINALISING)
        state = decision.state
