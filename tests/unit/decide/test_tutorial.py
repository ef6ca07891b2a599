"""The seed tutorial's podinfo Canary, parsed from fixtures/, through a release and a rollback.

The tutorial shows Flagger's events for a good release (weights 10 to 50, then
promotion) and for a bad one (success-rate halts, then a rollback at the
threshold); the texts here are the ones Flagger emits today.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gitflagger.decide import Decision, decide, gates_due
from gitflagger.decide.observation import MetricResult, Observation, WebhookResult
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary_yaml
from gitflagger.model.status import Phase, State

from .builders import NEW, PROMOTED, good_metrics, observe, settled, texts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "podinfo"


@pytest.fixture(params=["canary.yaml", "canary-v1beta1.yaml"])
def podinfo(request: pytest.FixtureRequest) -> Canary:
    path = FIXTURES / request.param
    return parse_canary_yaml(path.read_text(), source=str(path))


def _engine_step(spec: Canary, state: State, seen: Observation) -> Decision:
    """Answer the due gates (the load test always starts fine), then decide."""
    hooks = [h for h in spec.spec.analysis.webhooks if h.type in gates_due(spec, state, seen)]
    return decide(spec, state, replace(seen, webhooks={h.name: WebhookResult(h.name, True) for h in hooks}))


def _run(spec: Canary, state: State, observations: list[Observation]) -> list[Decision]:
    out = []
    for seen in observations:
        out.append(_engine_step(spec, state, seen))
        state = out[-1].state
    return out


def test_tutorial_release(podinfo: Canary) -> None:
    run = _run(podinfo, settled(), [observe(at=60 * i) for i in range(9)])
    assert [m for d in run for m in texts(d)] == [
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary weight 10",
        "Advance podinfo.test canary weight 20",
        "Advance podinfo.test canary weight 30",
        "Advance podinfo.test canary weight 40",
        "Advance podinfo.test canary weight 50",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]
    assert run[-1].state.phase is Phase.SUCCEEDED
    assert run[-1].state.last_promoted_spec == NEW


def test_tutorial_rollback(podinfo: Canary) -> None:
    rates = [99.5, 69.17, 61.39, 55.06, 47.0, 38.08, 30.0]
    seen = [
        observe(
            at=60 * i,
            metrics={**good_metrics(), "request-success-rate": MetricResult.of("request-success-rate", rate)},
        )
        for i, rate in enumerate(rates)
    ]
    run = _run(
        podinfo, settled().evolve(phase=Phase.PROGRESSING, canary_weight=10, last_applied_spec=NEW), seen
    )
    assert [m for d in run for m in texts(d)] == [
        "Advance podinfo.test canary weight 20",
        "Halt podinfo.test advancement success rate 69.17% < 99%",
        "Halt podinfo.test advancement success rate 61.39% < 99%",
        "Halt podinfo.test advancement success rate 55.06% < 99%",
        "Halt podinfo.test advancement success rate 47.00% < 99%",
        "Halt podinfo.test advancement success rate 38.08% < 99%",
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    ]
    assert run[-1].state.phase is Phase.FAILED
    assert run[-1].state.last_promoted_spec == PROMOTED


def test_tutorial_latency_halt(podinfo: Canary) -> None:
    slow = {**good_metrics(), "request-duration": MetricResult.of("request-duration", 1515.2)}
    state = settled().evolve(phase=Phase.PROGRESSING, canary_weight=30, last_applied_spec=NEW)
    decision = _engine_step(podinfo, state, observe(metrics=slow))
    assert texts(decision) == ("Halt podinfo.test advancement request duration 1.515s > 500ms",)
