"""Whole rollouts, step by step: each decision's state feeds the next step."""

from __future__ import annotations

from gitflagger.decide import Action, Routes, decide
from gitflagger.decide.observation import ManualIntent, MetricResult
from gitflagger.model.canary import WebhookType
from gitflagger.model.status import Phase, State

from .builders import NEW, NEWER, PROMOTED, canary, good_metrics, hook, observe, settled, steps, texts, walk

AB_MATCH = ({"headers": {"x-canary": {"exact": "insider"}}},)


def test_fresh_canary_then_first_release_stepweight_10_maxweight_50() -> None:
    spec = canary(step_weight=10, max_weight=50)
    init = walk(spec, State(), steps(2, revision=PROMOTED))
    assert [d.state.phase for d in init] == [Phase.INITIALIZING, Phase.INITIALIZED]
    assert texts(init[1]) == ("Initialization done! podinfo.test",)

    rollout = walk(spec, init[-1].state, steps(9, start=120))
    assert [d.state.phase for d in rollout] == [Phase.PROGRESSING] * 6 + [
        Phase.PROMOTING,
        Phase.FINALISING,
        Phase.SUCCEEDED,
    ]
    assert [d.state.canary_weight for d in rollout] == [0, 10, 20, 30, 40, 50, 50, 0, 0]
    assert [d.routes.canary for d in rollout] == [0, 10, 20, 30, 40, 50, 50, 0, 0]
    assert [m for d in rollout for m in texts(d)] == [
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
    assert [d.actions for d in rollout if d.actions] == [
        (Action.SCALE_CANARY_UP,),
        (Action.PROMOTE,),
        (Action.SCALE_CANARY_DOWN,),
    ]
    assert [d.primary_from_target for d in rollout].count(True) == 1
    final = rollout[-1].state
    assert (final.last_applied_spec, final.last_promoted_spec) == (NEW, NEW)
    assert [d.state.step for d in rollout] == list(range(init[-1].state.step + 1, init[-1].state.step + 10))
    assert rollout[4].subject == "podinfo.test: advance canary weight 40"
    # and then it rests
    rest = decide(spec, final, observe(at=2000))
    assert not rest.changed and texts(rest) == ()


def test_rollback_walk_threshold_5() -> None:
    spec = canary(threshold=5, webhooks=[hook("notify", WebhookType.POST_ROLLOUT)])
    start = walk(spec, settled(), steps(3))  # scale up, start + 10, 20
    bad = {**good_metrics(), "request-success-rate": MetricResult.of("request-success-rate", 69.17)}
    failing = walk(spec, start[-1].state, steps(7, start=180, metrics=bad))
    assert [d.state.failed_checks for d in failing] == [1, 2, 3, 4, 5, 5, 5]
    assert [d.state.phase for d in failing] == [Phase.PROGRESSING] * 5 + [Phase.FAILED] * 2
    assert texts(failing[0]) == ("Halt podinfo.test advancement success rate 69.17% < 99%",)
    assert failing[4].state.canary_weight == 20
    assert texts(failing[5]) == (
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    )
    assert failing[5].routes == Routes(100, 0)
    assert failing[5].actions == (Action.SCALE_CANARY_DOWN,)
    assert failing[5].webhooks == (WebhookType.POST_ROLLOUT,)
    assert failing[5].state.canary_weight == 0
    assert failing[5].subject == "podinfo.test: rollback, failed checks threshold reached 5"
    assert not failing[6].changed and texts(failing[6]) == ()
    # a new revision starts over
    again = decide(spec, failing[-1].state, observe(at=900, revision=NEWER))
    assert again.state.phase is Phase.PROGRESSING and again.state.failed_checks == 0


def test_step_weights_walk() -> None:
    spec = canary(step_weight=0, step_weights=(1, 5, 25, 80), max_weight=50)
    run = walk(spec, settled(), steps(7))
    assert [d.state.canary_weight for d in run] == [0, 1, 5, 25, 80, 80, 0]
    assert [d.state.phase for d in run][-2:] == [Phase.PROMOTING, Phase.FINALISING]


def test_step_weight_promotion_walk() -> None:
    spec = canary(step_weight=25, max_weight=50, step_weight_promotion=20)
    run = walk(spec, settled(), steps(9))
    assert [(d.state.phase, d.routes.primary, d.routes.canary) for d in run[3:]] == [
        (Phase.PROMOTING, 50, 50),
        (Phase.PROMOTING, 70, 30),
        (Phase.PROMOTING, 90, 10),
        (Phase.FINALISING, 100, 0),
        (Phase.SUCCEEDED, 100, 0),
        (Phase.SUCCEEDED, 100, 0),
    ]
    assert [m for d in run[4:7] for m in texts(d)] == [
        "Advance podinfo.test primary weight 70",
        "Advance podinfo.test primary weight 90",
        "Advance podinfo.test primary weight 100",
    ]


def test_ab_testing_walk() -> None:
    spec = canary(iterations=3, match=AB_MATCH)
    run = walk(spec, settled(), steps(8))
    assert [d.routes for d in run] == [
        Routes(100, 0),
        Routes(0, 100, match=True),
        Routes(0, 100, match=True),
        Routes(0, 100, match=True),
        Routes(0, 100, match=True),
        Routes(100, 0),
        Routes(100, 0),
        Routes(100, 0),
    ]
    assert [m for d in run for m in texts(d)] == [
        "New revision detected! Scaling up podinfo.test",
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary iteration 1/3",
        "Advance podinfo.test canary iteration 2/3",
        "Advance podinfo.test canary iteration 3/3",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]
    assert all(d.state.canary_weight == 0 for d in run)  # Flagger leaves the weight at 0 for A/B


def test_blue_green_walk() -> None:
    spec = canary(iterations=2)
    run = walk(spec, settled(), steps(7))
    assert [(d.state.phase, d.routes.canary) for d in run] == [
        (Phase.PROGRESSING, 0),
        (Phase.PROGRESSING, 0),
        (Phase.PROGRESSING, 0),
        (Phase.PROGRESSING, 100),
        (Phase.PROMOTING, 100),
        (Phase.FINALISING, 0),
        (Phase.SUCCEEDED, 0),
    ]
    assert [m for d in run for m in texts(d)][2:] == [
        "Advance podinfo.test canary iteration 1/2",
        "Advance podinfo.test canary iteration 2/2",
        "Routing all traffic to canary",
        "Copying podinfo.test template spec to podinfo-primary.test",
        "Routing all traffic to primary",
        "Promotion completed! Scaling down podinfo.test",
    ]


def test_mirror_walk() -> None:
    spec = canary(step_weight=25, max_weight=50, mirror=True)
    run = walk(spec, settled(), steps(5))
    assert [d.routes for d in run] == [
        Routes(100, 0),
        Routes(100, 0, mirror=True),
        Routes(75, 25),
        Routes(50, 50),
        Routes(50, 50),
    ]
    assert texts(run[1]) == (
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary weight 0",
    )
    assert run[4].state.phase is Phase.PROMOTING


def test_skip_analysis_walk() -> None:
    spec = canary(skip_analysis=True)
    run = walk(spec, settled(), steps(3, primary_ready=False))  # skipAnalysis ignores the primary
    assert [d.state.phase for d in run] == [Phase.PROGRESSING, Phase.SUCCEEDED, Phase.SUCCEEDED]
    assert run[1].routes == Routes(100, 0)
    assert run[1].state.last_promoted_spec == NEW


def test_confirm_gates_walk() -> None:
    gates = [hook("start", WebhookType.CONFIRM_ROLLOUT), hook("ship", WebhookType.CONFIRM_PROMOTION)]
    spec = canary(step_weight=50, max_weight=50, webhooks=gates)
    closed = {"start": False, "ship": False}
    opened = {"start": True, "ship": True}
    run = walk(
        spec,
        settled(),
        [
            observe(at=0, webhooks=closed),
            observe(at=60, webhooks=closed),
            observe(at=120, webhooks={"start": True}),
            observe(at=180),
            observe(at=240, webhooks={"ship": False}),
            observe(at=300, webhooks={"ship": False}),
            observe(at=360, webhooks=opened),
        ],
    )
    assert [d.state.phase for d in run] == [
        Phase.WAITING,
        Phase.WAITING,
        Phase.PROGRESSING,
        Phase.PROGRESSING,
        Phase.WAITING_PROMOTION,
        Phase.WAITING_PROMOTION,
        Phase.PROMOTING,
    ]
    assert [texts(d) for d in run] == [
        ("Halt podinfo.test advancement waiting for approval start",),
        (),
        ("Confirm-rollout check start passed", "New revision detected! Scaling up podinfo.test"),
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 50"),
        ("Halt podinfo.test advancement waiting for promotion approval ship",),
        (),
        (
            "Confirm-promotion check ship passed",
            "Copying podinfo.test template spec to podinfo-primary.test",
        ),
    ]


def test_progress_deadline_walk() -> None:
    spec = canary(progress_deadline_seconds=300)
    scaled = decide(spec, settled(), observe())
    run = walk(spec, scaled.state, steps(6, start=60, canary_ready=False))
    assert [d.state.phase for d in run] == [Phase.PROGRESSING] * 5 + [Phase.FAILED]
    assert all(d.state.failed_checks == 0 for d in run)
    assert texts(run[-1])[0].startswith("Rolling back podinfo.test progress deadline exceeded ")


def test_revision_change_mid_analysis_walk() -> None:
    spec = canary()
    run = walk(spec, settled(), steps(4))
    assert run[-1].state.canary_weight == 30
    restarted = decide(spec, run[-1].state, observe(at=300, revision=NEWER))
    assert restarted.routes == Routes(100, 0)
    assert restarted.state.canary_weight == 0
    nxt = decide(spec, restarted.state, observe(at=360, revision=NEWER))
    assert texts(nxt) == (
        "Starting canary analysis for podinfo.test",
        "Advance podinfo.test canary weight 10",
    )


def test_prometheus_error_never_promotes() -> None:
    spec = canary(step_weight=50, max_weight=50, threshold=3)
    broken = {
        "request-success-rate": MetricResult.failed("request-success-rate", "dial tcp: connection refused"),
        "request-duration": MetricResult.failed("request-duration", "dial tcp: connection refused"),
    }
    start = walk(spec, settled(), steps(2))
    assert start[-1].state.canary_weight == 50
    run = walk(spec, start[-1].state, steps(6, start=120, metrics=broken))
    assert all(Action.PROMOTE not in d.actions for d in run)
    assert [d.state.phase for d in run][-1] is Phase.FAILED


def test_manual_intents_walk() -> None:
    spec = canary()
    failed = settled(Phase.FAILED, NEW).evolve(failed_checks=5)
    retried = decide(spec, failed, observe(manual=ManualIntent.RETRY))
    assert retried.state.phase is Phase.PROGRESSING and retried.handled_intent is ManualIntent.RETRY
    promoted = decide(spec, retried.state, observe(at=60, manual=ManualIntent.PROMOTE))
    assert promoted.state.phase is Phase.PROMOTING and promoted.primary_from_target
    finished = walk(spec, promoted.state, steps(2, start=120))
    assert finished[-1].state.phase is Phase.SUCCEEDED
    assert finished[-1].state.last_promoted_spec == NEW
