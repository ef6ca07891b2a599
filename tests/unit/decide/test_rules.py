"""One row per rule of DESIGN §3, with Flagger's exact event texts.

Each case is a single call of ``decide``: a Canary, the recorded state and one
observation in; the asserted phase, weights, failed checks, actions and events out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from gitflagger.decide import Action, Routes, decide
from gitflagger.decide.observation import ManualIntent, MetricResult, Observation, WorkloadHealth
from gitflagger.model.canary import Canary, WebhookType
from gitflagger.model.status import Phase, State

from .builders import (
    DURATION,
    ERROR_RATE,
    NEW,
    NEWER,
    NOT_READY,
    NOW,
    PROMOTED,
    SUCCESS_RATE,
    canary,
    good_metrics,
    hook,
    in_flight,
    observe,
    settled,
    texts,
)

ALL_PRIMARY = Routes(100, 0)
START_GATE = hook("start-gate", WebhookType.CONFIRM_ROLLOUT)
SMOKE = hook("smoke", WebhookType.PRE_ROLLOUT)
LOAD = hook("load-test", WebhookType.ROLLOUT)
TRAFFIC_GATE = hook("traffic-gate", WebhookType.CONFIRM_TRAFFIC_INCREASE)
PROMOTION_GATE = hook("promotion-gate", WebhookType.CONFIRM_PROMOTION)
ROLLBACK_GATE = hook("rollback-gate", WebhookType.ROLLBACK)
NOTIFY = hook("notify", WebhookType.POST_ROLLOUT)
AB_MATCH = ({"headers": {"x-canary": {"exact": "insider"}}},)


@dataclass(frozen=True)
class Case:
    id: str
    canary: Canary
    state: State
    seen: Observation
    phase: Phase | None
    events: tuple[str, ...]
    weight: int = 0
    failed: int = 0
    actions: tuple[Action, ...] = ()
    routes: Routes = ALL_PRIMARY
    iterations: int = 0
    changed: bool = True
    extra: dict[str, object] = field(default_factory=dict)
    """Other Decision or State attributes to check, e.g. ``{"state.last_promoted_spec": NEW}``."""


def metric(name: str, value: float) -> dict[str, MetricResult]:
    return {**good_metrics(), name: MetricResult.of(name, value)}


def metric_result(result: MetricResult) -> dict[str, MetricResult]:
    return {**good_metrics(), result.name: result}


# fmt: off
CASES = [
    # --- initialization -------------------------------------------------------------------------
    Case(
        "fresh canary creates the primary and routes everything to it",
        canary(), State(), observe(revision=PROMOTED), Phase.INITIALIZING, (),
        actions=(Action.INITIALIZE, Action.SCALE_CANARY_DOWN),
        extra={"primary_from_target": True, "state.last_applied_spec": PROMOTED,
               "subject": "podinfo.test: initializing, creating podinfo-primary",
               "state.condition.status": "Unknown"},
    ),
    Case(
        "initializing waits for the primary to be ready",
        canary(), settled(Phase.INITIALIZING).evolve(last_promoted_spec=""),
        observe(revision=PROMOTED, primary_ready=False), Phase.INITIALIZING,
        (f"Halt podinfo.test advancement {NOT_READY}",), changed=False,
    ),
    Case(
        "initialized once the primary is ready",
        canary(), settled(Phase.INITIALIZING).evolve(last_promoted_spec=""),
        observe(revision=PROMOTED), Phase.INITIALIZED, ("Initialization done! podinfo.test",),
        extra={"state.last_promoted_spec": PROMOTED, "state.condition.status": "True",
               "state.condition.message": "Deployment initialization completed."},
    ),
    # --- new revision ---------------------------------------------------------------------------
    Case(
        "same revision changes nothing",
        canary(), settled(), observe(revision=PROMOTED), Phase.SUCCEEDED, (), changed=False,
        extra={"subject": "podinfo.test: no change"},
    ),
    Case(
        "new pod template scales the canary up",
        canary(), settled(), observe(), Phase.PROGRESSING,
        ("New revision detected! Scaling up podinfo.test",), actions=(Action.SCALE_CANARY_UP,),
        extra={"state.last_applied_spec": NEW, "subject": "podinfo.test: new revision detected, scaling up",
               "state.condition.message": "New revision detected, progressing canary analysis."},
    ),
    Case(
        "changed ConfigMap is a new revision",
        canary(), settled(), observe(revision=PROMOTED, configs={"configmap/podinfo-config": "sha256:cfg2"}),
        Phase.PROGRESSING, ("New revision detected! Scaling up podinfo.test",),
        actions=(Action.SCALE_CANARY_UP,),
    ),
    Case(
        "going back to the promoted revision is not a release",
        canary(), settled(Phase.SUCCEEDED, NEW).evolve(last_promoted_spec=PROMOTED),
        observe(revision=PROMOTED), Phase.SUCCEEDED, (), changed=False,
    ),
    Case(
        "new revision waits for a ready primary",
        canary(), settled(), observe(primary_ready=False), Phase.SUCCEEDED,
        (f"Halt podinfo.test advancement {NOT_READY}",), changed=False,
    ),
    Case(
        "closed confirm-rollout gate parks the canary in Waiting",
        canary(webhooks=[START_GATE]), settled(), observe(webhooks={"start-gate": False}), Phase.WAITING,
        ("Halt podinfo.test advancement waiting for approval start-gate",),
        extra={"state.condition.message": "Waiting for approval."},
    ),
    Case(
        "still waiting for approval says nothing new",
        canary(webhooks=[START_GATE]), in_flight(Phase.WAITING), observe(webhooks={"start-gate": False}),
        Phase.WAITING, (), changed=False,
    ),
    Case(
        "approval scales the canary up",
        canary(webhooks=[START_GATE]), in_flight(Phase.WAITING), observe(webhooks={"start-gate": True}),
        Phase.PROGRESSING,
        ("Confirm-rollout check start-gate passed", "New revision detected! Scaling up podinfo.test"),
        actions=(Action.SCALE_CANARY_UP,),
    ),
    Case(
        "rollback webhook aborts a canary waiting for approval",
        canary(webhooks=[START_GATE, ROLLBACK_GATE]), in_flight(Phase.WAITING),
        observe(webhooks={"start-gate": False, "rollback-gate": True}), Phase.FAILED,
        ("Rollback check rollback-gate passed", "Rolling back podinfo.test manual webhook invoked",
         "Canary failed! Scaling down podinfo.test"),
        actions=(Action.SCALE_CANARY_DOWN,),
    ),
    # --- the analysis starts ----------------------------------------------------------------------
    Case(
        "first analysis step starts the analysis and takes the first step",
        canary(), in_flight(), observe(), Phase.PROGRESSING,
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 10"),
        weight=10, routes=Routes(90, 10),
    ),
    Case(
        "pre-rollout webhook passes",
        canary(webhooks=[SMOKE]), in_flight(), observe(webhooks={"smoke": True}), Phase.PROGRESSING,
        ("Starting canary analysis for podinfo.test", "Pre-rollout check smoke passed",
         "Advance podinfo.test canary weight 10"),
        weight=10, routes=Routes(90, 10),
    ),
    Case(
        "failed pre-rollout webhook counts a failed check",
        canary(webhooks=[SMOKE]), in_flight(), observe(webhooks={"smoke": "500 Internal Server Error"}),
        Phase.PROGRESSING,
        ("Starting canary analysis for podinfo.test",
         "Halt podinfo.test advancement pre-rollout check smoke failed 500 Internal Server Error"),
        failed=1,
    ),
    # --- readiness and the progress deadline ------------------------------------------------------
    Case(
        "canary not ready halts without a failed check",
        canary(), in_flight(weight=20), observe(canary_ready=False), Phase.PROGRESSING,
        (f"Halt podinfo.test advancement {NOT_READY}",), weight=20, routes=Routes(80, 20), changed=False,
        extra={"subject": "podinfo.test: halt advancement, canary not ready"},
    ),
    Case(
        "primary not ready halts without a failed check",
        canary(), in_flight(weight=20), observe(primary_ready=False), Phase.PROGRESSING,
        (f"Halt podinfo.test advancement {NOT_READY}",), weight=20, routes=Routes(80, 20), changed=False,
    ),
    Case(
        "canary past its progress deadline rolls back",
        canary(), in_flight(weight=20),
        observe(canary_ready=WorkloadHealth(ready=False, deadline_exceeded=True)), Phase.FAILED,
        ('Rolling back podinfo.test progress deadline exceeded canary deployment podinfo.test not ready: '
         'deployment "podinfo" exceeded its progress deadline',
         "Canary failed! Scaling down podinfo.test"),
        actions=(Action.SCALE_CANARY_DOWN,),
        extra={"subject": "podinfo.test: rollback, progress deadline exceeded"},
    ),
    Case(
        "canary not ready for longer than progressDeadlineSeconds rolls back",
        canary(progress_deadline_seconds=60), in_flight(since=61), observe(canary_ready=False), Phase.FAILED,
        (f"Rolling back podinfo.test progress deadline exceeded canary deployment podinfo.test not ready: "
         f"{NOT_READY}", "Canary failed! Scaling down podinfo.test"),
        actions=(Action.SCALE_CANARY_DOWN,),
    ),
    Case(
        "deadline counts from when the Deployment became unavailable",
        canary(progress_deadline_seconds=60), in_flight(weight=30, since=3600),
        observe(canary_ready=WorkloadHealth(ready=False, message=NOT_READY,
                                            unavailable_since=NOW - timedelta(seconds=30))),
        Phase.PROGRESSING, (f"Halt podinfo.test advancement {NOT_READY}",), weight=30,
        routes=Routes(70, 30), changed=False,
    ),
    Case(
        "primary past its progress deadline rolls back",
        canary(), in_flight(weight=20),
        observe(primary_ready=WorkloadHealth(ready=False, deadline_exceeded=True)), Phase.FAILED,
        ('Rolling back podinfo.test progress deadline exceeded podinfo-primary.test not ready: '
         'deployment "podinfo-primary" exceeded its progress deadline',
         "Canary failed! Scaling down podinfo.test"),
        actions=(Action.SCALE_CANARY_DOWN,),
    ),
    # --- webhooks during the analysis ---------------------------------------------------------------
    Case(
        "failed rollout webhook counts a failed check",
        canary(webhooks=[LOAD]), in_flight(weight=10, failed=1), observe(webhooks={"load-test": "timeout"}),
        Phase.PROGRESSING, ("Halt podinfo.test advancement external check load-test failed timeout",),
        weight=10, failed=2, routes=Routes(90, 10),
    ),
    Case(
        "rollback webhook answering 2xx aborts the rollout",
        canary(webhooks=[ROLLBACK_GATE, NOTIFY]), in_flight(weight=30),
        observe(webhooks={"rollback-gate": True}), Phase.FAILED,
        ("Rollback check rollback-gate passed", "Rolling back podinfo.test manual webhook invoked",
         "Canary failed! Scaling down podinfo.test"),
        actions=(Action.SCALE_CANARY_DOWN,),
        extra={"webhooks": (WebhookType.POST_ROLLOUT,),
               "subject": "podinfo.test: rollback, manual webhook invoked"},
    ),
    Case(
        "quiet rollback webhook lets the canary advance",
        canary(webhooks=[ROLLBACK_GATE]), in_flight(weight=10), observe(webhooks={"rollback-gate": False}),
        Phase.PROGRESSING,
        ("Rollback hook rollback-gate not signaling a rollback", "Advance podinfo.test canary weight 20"),
        weight=20, routes=Routes(80, 20),
    ),
    Case(
        "rollback webhook without an answer halts rather than guessing",
        canary(webhooks=[ROLLBACK_GATE]), in_flight(weight=10), observe(), Phase.PROGRESSING,
        ("Halt podinfo.test advancement rollback check rollback-gate has no result",),
        weight=10, routes=Routes(90, 10), changed=False,
    ),
    # --- metric checks --------------------------------------------------------------------------------
    Case(
        "low success rate halts and counts a failed check",
        canary(), in_flight(weight=15), observe(metrics=metric("request-success-rate", 69.1666)),
        Phase.PROGRESSING, ("Halt podinfo.test advancement success rate 69.17% < 99%",),
        weight=15, failed=1, routes=Routes(85, 15),
        extra={"subject": "podinfo.test: halt advancement, success rate 69.17% < 99%"},
    ),
    Case(
        "success rate above its max halts",
        canary(metrics=[SUCCESS_RATE.__class__("request-success-rate", SUCCESS_RATE.threshold_range.__class__(
            min=90, max=99.5))]),
        in_flight(weight=10), observe(metrics=metric("request-success-rate", 99.95)), Phase.PROGRESSING,
        ("Halt podinfo.test advancement success rate 99.95% > 99.5%",), weight=10, failed=1,
        routes=Routes(90, 10),
    ),
    Case(
        "slow requests halt with Go durations",
        canary(), in_flight(weight=40), observe(metrics=metric("request-duration", 1515.7)),
        Phase.PROGRESSING, ("Halt podinfo.test advancement request duration 1.515s > 500ms",),
        weight=40, failed=1, routes=Routes(60, 40),
    ),
    Case(
        "request duration below its min halts",
        canary(metrics=[DURATION.__class__("request-duration", DURATION.threshold_range.__class__(min=10))]),
        in_flight(weight=10), observe(metrics=metric("request-duration", 2.5)), Phase.PROGRESSING,
        ("Halt podinfo.test advancement request duration 2ms < 10ms",), weight=10, failed=1,
        routes=Routes(90, 10),
    ),
    Case(
        "custom metric above its max halts",
        canary(metrics=[ERROR_RATE]), in_flight(weight=10), observe(metrics=metric("error-rate", 2.5)),
        Phase.PROGRESSING, ("Halt podinfo.test advancement error-rate 2.50 > 1",), weight=10, failed=1,
        routes=Routes(90, 10),
    ),
    Case(
        "custom metric below its min halts",
        canary(metrics=[ERROR_RATE.__class__("apdex", ERROR_RATE.threshold_range.__class__(min=0.9),
                                             template_ref=ERROR_RATE.template_ref)]),
        in_flight(weight=10), observe(metrics=metric("apdex", 0.8312)), Phase.PROGRESSING,
        ("Halt podinfo.test advancement apdex 0.83 < 0.9",), weight=10, failed=1, routes=Routes(90, 10),
    ),
    Case(
        "no values for a built-in metric is a failed check",
        canary(), in_flight(weight=10),
        observe(metrics=metric_result(MetricResult.no_values("request-success-rate"))), Phase.PROGRESSING,
        ("Halt advancement no values found for istio metric request-success-rate probably podinfo.test "
         "is not receiving traffic",), weight=10, failed=1, routes=Routes(90, 10),
    ),
    Case(
        "Prometheus unreachable is a failed check",
        canary(), in_flight(weight=10),
        observe(metrics=metric_result(MetricResult.failed("request-success-rate", "connection refused"))),
        Phase.PROGRESSING, ("Prometheus query failed: connection refused",), weight=10, failed=1,
        routes=Routes(90, 10),
    ),
    Case(
        "no values for a custom metric is a failed check",
        canary(metrics=[ERROR_RATE]), in_flight(weight=10),
        observe(metrics=metric_result(MetricResult.no_values("error-rate"))), Phase.PROGRESSING,
        ("Halt advancement no values found for custom metric: error-rate: no values found",),
        weight=10, failed=1, routes=Routes(90, 10),
    ),
    Case(
        "custom metric query error is a failed check",
        canary(metrics=[ERROR_RATE]), in_flight(weight=10),
        observe(metrics=metric_result(MetricResult.failed("error-rate", "503 Service Unavailable"))),
        Phase.PROGRESSING, ("Metric query failed for error-rate: 503 Service Unavailable",),
        weight=10, failed=1, routes=Routes(90, 10),
    ),
    Case(
        "a metric nobody measured is a failed check",
        canary(), in_flight(weight=10), observe(metrics={}), Phase.PROGRESSING,
        ("Prometheus query failed: metric was not observed",), weight=10, failed=1, routes=Routes(90, 10),
    ),
    Case(
        "Prometheus error at max weight never promotes",
        canary(), in_flight(weight=50),
        observe(metrics=metric_result(MetricResult.failed("request-duration", "connection refused"))),
        Phase.PROGRESSING, ("Prometheus query failed: connection refused",), weight=50, failed=1,
        routes=Routes(50, 50),
    ),
    # --- advancing ---------------------------------------------------------------------------------------
    Case(
        "good metrics advance the weight",
        canary(), in_flight(weight=10), observe(), Phase.PROGRESSING,
        ("Advance podinfo.test canary weight 20",), weight=20, routes=Routes(80, 20),
        extra={"subject": "podinfo.test: advance canary weight 20"},
    ),
    Case(
        "closed confirm-traffic-increase gate halts without a failed check",
        canary(webhooks=[TRAFFIC_GATE]), in_flight(weight=10), observe(webhooks={"traffic-gate": False}),
        Phase.PROGRESSING,
        ("Halt podinfo.test advancement waiting for traffic increase approval traffic-gate",),
        weight=10, routes=Routes(90, 10), changed=False,
    ),
    Case(
        "open confirm-traffic-increase gate advances",
        canary(webhooks=[TRAFFIC_GATE]), in_flight(weight=10), observe(webhooks={"traffic-gate": True}),
        Phase.PROGRESSING,
        ("Confirm-traffic-increase check traffic-gate passed", "Advance podinfo.test canary weight 20"),
        weight=20, routes=Routes(80, 20),
    ),
    Case(
        "stepWeights go to the next entry",
        canary(step_weight=0, step_weights=(1, 5, 25, 80)), in_flight(weight=5), observe(),
        Phase.PROGRESSING, ("Advance podinfo.test canary weight 25",), weight=25, routes=Routes(75, 25),
    ),
    Case(
        "mirror step comes before the first shift",
        canary(mirror=True), in_flight(), observe(), Phase.PROGRESSING,
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary weight 0"),
        routes=Routes(100, 0, mirror=True), extra={"state.mirrored": True},
    ),
    Case(
        "after the mirror step traffic shifts",
        canary(mirror=True), in_flight(mirrored=True), observe(), Phase.PROGRESSING,
        ("Advance podinfo.test canary weight 10",), weight=10, routes=Routes(90, 10),
    ),
    # --- promotion -----------------------------------------------------------------------------------------
    Case(
        "max weight reached promotes",
        canary(), in_flight(weight=50), observe(), Phase.PROMOTING,
        ("Copying podinfo.test template spec to podinfo-primary.test",), weight=50,
        actions=(Action.PROMOTE,), routes=Routes(50, 50),
        extra={"primary_from_target": True,
               "subject": "podinfo.test: promoting, copying template spec to podinfo-primary"},
    ),
    Case(
        "closed confirm-promotion gate parks the canary in WaitingPromotion",
        canary(webhooks=[PROMOTION_GATE]), in_flight(weight=50), observe(webhooks={"promotion-gate": False}),
        Phase.WAITING_PROMOTION,
        ("Halt podinfo.test advancement waiting for promotion approval promotion-gate",),
        weight=50, routes=Routes(50, 50),
    ),
    Case(
        "analysis keeps running while waiting for promotion",
        canary(webhooks=[PROMOTION_GATE]), in_flight(Phase.WAITING_PROMOTION, weight=50),
        observe(webhooks={"promotion-gate": False}, metrics=metric("request-success-rate", 42)),
        Phase.WAITING_PROMOTION, ("Halt podinfo.test advancement success rate 42.00% < 99%",),
        weight=50, failed=1, routes=Routes(50, 50),
    ),
    Case(
        "a gate nobody called counts as closed",
        canary(webhooks=[PROMOTION_GATE]), in_flight(weight=50), observe(), Phase.WAITING_PROMOTION,
        ("Halt podinfo.test advancement waiting for promotion approval promotion-gate",),
        weight=50, routes=Routes(50, 50),
    ),
    Case(
        "promotion approval promotes",
        canary(webhooks=[PROMOTION_GATE]), in_flight(Phase.WAITING_PROMOTION, weight=50),
        observe(webhooks={"promotion-gate": True}), Phase.PROMOTING,
        ("Confirm-promotion check promotion-gate passed",
         "Copying podinfo.test template spec to podinfo-primary.test"),
        weight=50, actions=(Action.PROMOTE,), routes=Routes(50, 50),
    ),
    Case(
        "promoting waits for the primary rollout",
        canary(), in_flight(Phase.PROMOTING, weight=50),
        observe(primary_ready=WorkloadHealth(ready=False, message="waiting for rollout to finish: "
                                             "1 old replicas are pending termination")),
        Phase.PROMOTING,
        ("Halt podinfo.test advancement waiting for rollout to finish: "
         "1 old replicas are pending termination",),
        weight=50, routes=Routes(50, 50), changed=False,
    ),
    Case(
        "primary ready: route all traffic to it",
        canary(), in_flight(Phase.PROMOTING, weight=50), observe(), Phase.FINALISING,
        ("Routing all traffic to primary",),
        extra={"subject": "podinfo.test: finalising, routing all traffic to primary"},
    ),
    Case(
        "stepWeightPromotion shifts traffic back stepwise",
        canary(step_weight_promotion=20), in_flight(Phase.PROMOTING, weight=50), observe(), Phase.PROMOTING,
        ("Advance podinfo.test primary weight 70",), weight=30, routes=Routes(70, 30),
    ),
    Case(
        "finalising scales the canary down",
        canary(webhooks=[NOTIFY]), in_flight(Phase.FINALISING), observe(), Phase.SUCCEEDED,
        ("Promotion completed! Scaling down podinfo.test",), actions=(Action.SCALE_CANARY_DOWN,),
        extra={"state.last_promoted_spec": NEW, "webhooks": (WebhookType.POST_ROLLOUT,),
               "subject": "podinfo.test: promotion completed", "state.condition.status": "True"},
    ),
    # --- rollback ------------------------------------------------------------------------------------------
    Case(
        "failed checks at the threshold roll back",
        canary(webhooks=[NOTIFY]), in_flight(weight=30, failed=5), observe(), Phase.FAILED,
        ("Rolling back podinfo.test failed checks threshold reached 5",
         "Canary failed! Scaling down podinfo.test"),
        failed=5, actions=(Action.SCALE_CANARY_DOWN,),
        extra={"webhooks": (WebhookType.POST_ROLLOUT,), "state.condition.status": "False",
               "subject": "podinfo.test: rollback, failed checks threshold reached 5"},
    ),
    Case(
        "failed stays failed for the same revision",
        canary(), settled(Phase.FAILED, NEW), observe(), Phase.FAILED, (), changed=False,
    ),
    Case(
        "failed canary restarts on a new revision",
        canary(), settled(Phase.FAILED, NEW).evolve(failed_checks=5), observe(revision=NEWER),
        Phase.PROGRESSING, ("New revision detected! Scaling up podinfo.test",),
        actions=(Action.SCALE_CANARY_UP,),
    ),
    Case(
        "failed canary whose target went back to the promoted spec syncs lastAppliedSpec",
        canary(), settled(Phase.FAILED, NEW), observe(revision=PROMOTED), Phase.FAILED, (),
        extra={"state.last_applied_spec": PROMOTED},
    ),
    # --- skipAnalysis, suspend, revision change -------------------------------------------------------------
    Case(
        "skipAnalysis promotes a new revision without analysis",
        canary(skip_analysis=True, webhooks=[SMOKE]), in_flight(), observe(), Phase.SUCCEEDED,
        ("Copying podinfo.test template spec to podinfo-primary.test",
         "Promotion completed! Canary analysis was skipped for podinfo.test"),
        actions=(Action.PROMOTE, Action.SCALE_CANARY_DOWN),
        extra={"primary_from_target": True, "state.last_promoted_spec": NEW},
    ),
    Case(
        "suspend changes nothing at all",
        canary(suspend=True), in_flight(weight=20), observe(revision=NEWER, manual=ManualIntent.ABORT),
        Phase.PROGRESSING, (), weight=20, routes=Routes(80, 20), changed=False,
        extra={"state": in_flight(weight=20), "handled_intent": None},
    ),
    Case(
        "revision change mid-analysis restarts it",
        canary(), in_flight(weight=30, failed=2), observe(revision=NEWER), Phase.PROGRESSING,
        ("New revision detected! Restarting analysis for podinfo.test",),
        extra={"state.last_applied_spec": NEWER, "state.last_transition_time": NOW},
    ),
    # --- manual intents -------------------------------------------------------------------------------------
    Case(
        "manual promote skips the rest of the analysis",
        canary(webhooks=[PROMOTION_GATE]), in_flight(weight=20), observe(manual=ManualIntent.PROMOTE),
        Phase.PROMOTING,
        ("Manual promotion requested for podinfo.test",
         "Copying podinfo.test template spec to podinfo-primary.test"),
        weight=20, actions=(Action.PROMOTE,), routes=Routes(80, 20),
        extra={"handled_intent": ManualIntent.PROMOTE},
    ),
    Case(
        "manual abort rolls back",
        canary(), in_flight(weight=20), observe(manual=ManualIntent.ABORT), Phase.FAILED,
        ("Rolling back podinfo.test manual abort requested", "Canary failed! Scaling down podinfo.test"),
        actions=(Action.SCALE_CANARY_DOWN,), extra={"handled_intent": ManualIntent.ABORT},
    ),
    Case(
        "manual retry restarts a failed canary on the same revision",
        canary(), settled(Phase.FAILED, NEW).evolve(failed_checks=5), observe(manual=ManualIntent.RETRY),
        Phase.PROGRESSING, ("Manual retry! Scaling up podinfo.test",), actions=(Action.SCALE_CANARY_UP,),
        extra={"handled_intent": ManualIntent.RETRY},
    ),
    Case(
        "manual retry of a healthy canary is ignored",
        canary(), settled(), observe(revision=PROMOTED, manual=ManualIntent.RETRY), Phase.SUCCEEDED,
        ("Manual retry ignored for podinfo.test: only a Failed canary can be retried",), changed=False,
        extra={"handled_intent": ManualIntent.RETRY},
    ),
    # --- A/B testing and blue/green ------------------------------------------------------------------------
    Case(
        "A/B testing routes matched requests to the canary",
        canary(iterations=10, match=AB_MATCH), in_flight(), observe(), Phase.PROGRESSING,
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary iteration 1/10"),
        iterations=1, routes=Routes(0, 100, match=True),
    ),
    Case(
        "A/B testing promotes after its iterations",
        canary(iterations=10, match=AB_MATCH), in_flight(iterations=10), observe(), Phase.PROMOTING,
        ("Copying podinfo.test template spec to podinfo-primary.test",), iterations=10,
        actions=(Action.PROMOTE,), routes=Routes(0, 100, match=True),
    ),
    Case(
        "blue/green tests the idle canary",
        canary(iterations=3), in_flight(iterations=1), observe(), Phase.PROGRESSING,
        ("Advance podinfo.test canary iteration 2/3",), iterations=2,
    ),
    Case(
        "blue/green switches all traffic to the canary after its iterations",
        canary(iterations=3), in_flight(iterations=3), observe(), Phase.PROGRESSING,
        ("Routing all traffic to canary",), iterations=4, routes=Routes(0, 100),
    ),
    Case(
        "blue/green promotes once the canary serves everything",
        canary(iterations=3), in_flight(iterations=4), observe(), Phase.PROMOTING,
        ("Copying podinfo.test template spec to podinfo-primary.test",), iterations=4,
        actions=(Action.PROMOTE,), routes=Routes(0, 100),
    ),
    Case(
        "blue/green with mirroring mirrors from the first iteration",
        canary(iterations=3, mirror=True), in_flight(), observe(), Phase.PROGRESSING,
        ("Starting canary analysis for podinfo.test", "Advance podinfo.test canary iteration 1/3"),
        iterations=1, routes=Routes(100, 0, mirror=True),
    ),
    Case(
        "blue/green with mirroring stops mirroring when switching",
        canary(iterations=3, mirror=True), in_flight(iterations=3, mirrored=True), observe(),
        Phase.PROGRESSING,
        ("Stop traffic mirroring and route all traffic to canary",), iterations=4, routes=Routes(0, 100),
    ),
    # --- adopting a canary Flagger managed -----------------------------------------------------------
    Case(
        "a settled canary with Flagger's hashes is adopted, not re-released",
        canary(), settled().evolve(last_applied_spec="5d8f6c7b9", last_promoted_spec="5d8f6c7b9"),
        observe(revision=PROMOTED), Phase.SUCCEEDED, (),
        extra={"state.last_applied_spec": PROMOTED, "state.last_promoted_spec": PROMOTED},
    ),
]
# fmt: on


def _attr(obj: object, dotted: str) -> object:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule(case: Case) -> None:
    decision = decide(case.canary, case.state, case.seen)
    assert texts(decision) == case.events
    assert decision.state.phase == case.phase
    assert decision.state.canary_weight == case.weight
    assert decision.state.failed_checks == case.failed
    assert decision.state.iterations == case.iterations
    assert decision.actions == case.actions
    assert decision.routes == case.routes
    assert decision.changed == case.changed
    for dotted, expected in case.extra.items():
        assert _attr(decision, dotted) == expected, dotted


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_every_step_is_stamped(case: Case) -> None:
    decision = decide(case.canary, case.state, case.seen)
    if case.canary.spec.suspend:
        assert decision.state == case.state
        return
    assert decision.state.last_step_time == case.seen.now
    assert decision.state.step == case.state.step + (1 if decision.changed else 0)
    assert decision.subject.startswith("podinfo.test: ")
    assert "\n" not in decision.subject
    if decision.state.phase != case.state.phase:
        assert decision.state.last_transition_time == case.seen.now
        assert decision.state.condition is not None
        assert decision.state.condition.reason == decision.state.phase


def test_warnings_are_flagged_like_flagger() -> None:
    decision = decide(canary(), in_flight(weight=50, failed=5), observe())
    assert [(e.message, e.warning) for e in decision.events] == [
        ("Rolling back podinfo.test failed checks threshold reached 5", True),
        ("Canary failed! Scaling down podinfo.test", True),
    ]
    advance = decide(canary(), in_flight(weight=10), observe())
    assert [e.warning for e in advance.events] == [False]
