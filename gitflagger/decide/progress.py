"""A rollout in flight: Progressing, WaitingPromotion, Promoting and Finalising.

This is Flagger's ``advanceCanary`` from the readiness checks on, in its order:

1. primary ready? (a stuck primary past the deadline rolls back);
2. target changed mid-analysis? restart the analysis;
3. canary ready? (past the deadline: roll back, after the rollback hooks);
4. ``skipAnalysis``: promote straight away;
5. ``rollback`` webhooks;
6. Promoting: shift traffic back to the primary; Finalising: scale the canary down;
7. failed checks at the threshold, or the deadline: roll back;
8. the analysis: ``pre-rollout`` webhooks on the first step, ``rollout``
   webhooks and metrics on the others; a failure counts a failed check;
9. the strategy's next move: A/B iteration, blue/green iteration, or canary
   weight (behind the ``confirm-traffic-increase`` gates), and promotion
   behind the ``confirm-promotion`` gates.
"""

from __future__ import annotations

from gitflagger.decide import messages as msg
from gitflagger.decide.analysis import evaluate
from gitflagger.decide.decision import Action
from gitflagger.decide.draft import DecisionDraft, routes_of
from gitflagger.decide.events import Event
from gitflagger.decide.observation import ManualIntent
from gitflagger.decide.transitions import (
    HookOutcome,
    apply_revision,
    deadline_passed,
    halt_summary,
    problem,
    promote,
    rollback,
    run_rollback_hooks,
    target_changed,
)
from gitflagger.decide.weights import TOTAL_WEIGHT, advanced_weight, max_weight, next_step, promotion_shift
from gitflagger.model.canary import Strategy, WebhookType
from gitflagger.model.status import Phase

_ANALYSING = (Phase.PROGRESSING, Phase.WAITING_PROMOTION)


def in_flight(step: DecisionDraft) -> None:
    if _manual(step):
        return
    names, spec, ns = step.names, step.canary.spec, step.canary.namespace

    if not spec.skip_analysis:
        trouble = problem(step.obs.primary, step.canary.primary_name, ns, names.kind)
        if trouble is not None:
            if deadline_passed(step, step.obs.primary):
                step.emit(msg.deadline_exceeded(names, f"{names.primary} not ready: {trouble}"))
                rollback(step, "progress deadline exceeded")
                return
            step.emit(msg.not_ready(names, trouble))
            step.say("halt advancement, primary not ready")
            return

    if step.phase in _ANALYSING and target_changed(step.before, step.obs):
        step.emit(msg.revision_restart(names))
        apply_revision(step)
        step.set(canary_weight=0, failed_checks=0, iterations=0, mirrored=False)
        step.enter(Phase.PROGRESSING, restart=True)
        step.say("new revision detected, restarting analysis")
        return

    deadline_reason = ""
    trouble = problem(step.obs.canary, step.canary.target_name, ns, names.kind)
    if trouble is not None:
        if not deadline_passed(step, step.obs.canary):
            step.emit(msg.not_ready(names, trouble))
            step.say("halt advancement, canary not ready")
            return
        deadline_reason = f"canary {names.kind.lower()} {names.target} not ready: {trouble}"

    if spec.skip_analysis:
        if deadline_reason:
            step.emit(msg.deadline_exceeded(names, deadline_reason))
            rollback(step, "progress deadline exceeded")
        else:
            _promote_without_analysis(step)
        return

    if step.phase in _ANALYSING and run_rollback_hooks(step) is not HookOutcome.QUIET:
        return
    if step.phase is Phase.PROMOTING:
        _shift_to_primary(step)
        return
    if step.phase is Phase.FINALISING:
        _finalise(step)
        return

    if deadline_reason:
        step.emit(msg.deadline_exceeded(names, deadline_reason))
        rollback(step, "progress deadline exceeded")
        return
    if step.before.failed_checks >= step.analysis.threshold:
        rollback(step, f"failed checks threshold reached {step.before.failed_checks}")
        return

    if not _analysis_passes(step):
        return
    strategy = step.analysis.strategy
    if strategy is Strategy.AB_TESTING:
        _ab_testing(step)
    elif strategy is Strategy.BLUE_GREEN:
        _blue_green(step)
    else:
        _canary(step)


def _manual(step: DecisionDraft) -> bool:
    """``gitflagger promote|abort`` while a rollout is in flight. True when the step is decided."""
    intent = step.obs.manual
    if intent is None:
        return False
    if intent is ManualIntent.RETRY:
        step.ignore_intent(intent, "a rollout is in progress")
        return False
    if step.phase not in _ANALYSING:
        step.ignore_intent(intent, "the promotion is already under way")
        return False
    step.handled_intent = intent
    if intent is ManualIntent.ABORT:
        step.emit(msg.manual_abort(step.names))
        rollback(step, "manual abort")
    else:
        step.emit(msg.manual_promotion(step.names))
        promote(step)
    return True


def _analysis_passes(step: DecisionDraft) -> bool:
    """Flagger's pre-rollout step (no traffic yet) or ``runAnalysis``; a failure counts a failed check."""
    names, routes = step.names, routes_of(step)
    starting = (
        routes.canary == 0
        and step.before.iterations == 0
        and not (step.analysis.mirror and step.before.mirrored)
    )
    if starting:
        step.emit(msg.starting_analysis(names))
        for answer in step.book.answers(WebhookType.PRE_ROLLOUT):
            if not answer.ok:
                _failed_check(step, msg.pre_rollout_failed(names, answer.webhook.name, answer.message))
                return False
            step.emit(msg.pre_rollout_passed(answer.webhook.name))
        return True
    for answer in step.book.answers(WebhookType.ROLLOUT):
        if not answer.ok:
            _failed_check(step, msg.rollout_hook_failed(names, answer.webhook.name, answer.message))
            return False
    metrics = step.analysis.metrics
    step.book.note_metrics(tuple(m.name for m in metrics))
    if step.book.optimistic:  # planning: metrics not measured yet are assumed good
        metrics = tuple(m for m in metrics if m.name in step.obs.metrics)
    verdict = evaluate(names, metrics, step.obs.metrics)
    if verdict.failure is not None:
        _failed_check(step, verdict.failure)
        return False
    return True


def _failed_check(step: DecisionDraft, event: Event) -> None:
    step.emit(event)
    step.set(failed_checks=step.before.failed_checks + 1)
    step.say(halt_summary(event.message, step.names))


def _confirm_promotion(step: DecisionDraft) -> bool:
    """Flagger's ``runConfirmPromotionHooks``: a blocked gate parks the canary in WaitingPromotion."""
    for answer in step.book.answers(WebhookType.CONFIRM_PROMOTION):
        name = answer.webhook.name
        if not answer.ok:
            if step.phase is not Phase.WAITING_PROMOTION:
                step.enter(Phase.WAITING_PROMOTION)
                step.emit(msg.waiting_for_promotion(step.names, name, answer.webhook.mute_alert))
            step.say(f"halt advancement, waiting for promotion approval {name}")
            return False
        step.emit(msg.confirm_promotion_passed(name))
    return True


def _canary(step: DecisionDraft) -> None:
    """Flagger's progressive traffic increase (``runCanary``), with the optional mirror step first."""
    analysis, names = step.analysis, step.names
    weight = step.before.canary_weight
    increment = next_step(analysis, weight)
    if increment <= 0:
        step.say("no stepWeight or stepWeights, nothing to advance")
        return
    if not routes_of(step).mirror and step.phase is not Phase.WAITING_PROMOTION:
        for answer in step.book.answers(WebhookType.CONFIRM_TRAFFIC_INCREASE):
            name = answer.webhook.name
            if not answer.ok:
                step.emit(msg.waiting_for_traffic_increase(names, name, answer.webhook.mute_alert))
                step.say(f"halt advancement, waiting for traffic increase approval {name}")
                return
            step.emit(msg.confirm_traffic_increase_passed(name))
    ceiling = max_weight(analysis)
    if weight < ceiling:
        if analysis.mirror and weight == 0 and not step.before.mirrored:
            step.set(mirrored=True)
            step.emit(msg.advance_weight(names, 0))
            step.say("advance canary weight 0, mirroring traffic to canary")
            return
        new_weight = advanced_weight(analysis, weight)
        step.set(canary_weight=new_weight)
        step.emit(msg.advance_weight(names, new_weight))
        step.say(f"advance canary weight {new_weight}")
        return
    if _confirm_promotion(step):
        promote(step)


def _ab_testing(step: DecisionDraft) -> None:
    """Flagger's ``runAB``: matched requests go to the canary for ``iterations`` intervals."""
    total, done = step.analysis.iterations, step.before.iterations
    if done < total:
        step.set(iterations=done + 1)
        step.emit(msg.advance_iteration(step.names, done + 1, total))
        step.say(f"advance canary iteration {done + 1}/{total}")
        return
    if _confirm_promotion(step):
        promote(step)


def _blue_green(step: DecisionDraft) -> None:
    """Flagger's ``runBlueGreen``: test the idle canary, then switch all traffic to it, then promote.

    The switch to the canary comes before the primary's rolling update so no
    in-flight request is dropped; promotion follows on the next interval,
    after one more analysis with the canary serving everything.
    """
    analysis, names = step.analysis, step.names
    total, done = analysis.iterations, step.before.iterations
    if done < total:
        if analysis.mirror and not step.before.mirrored:
            step.set(mirrored=True)
        step.set(iterations=done + 1)
        step.emit(msg.advance_iteration(names, done + 1, total))
        step.say(f"advance canary iteration {done + 1}/{total}")
        return
    if not _confirm_promotion(step):
        return
    if done == total:
        step.emit(msg.route_all_to_canary(analysis.mirror))
        step.set(iterations=done + 1)
        step.say("routing all traffic to canary")
        return
    promote(step)


def _shift_to_primary(step: DecisionDraft) -> None:
    """Flagger's ``runPromotionTrafficShift``: all at once, or ``stepWeightPromotion`` at a time."""
    routes = routes_of(step)
    if step.analysis.step_weight_promotion <= 0 or routes.canary == 0:
        step.emit(msg.route_all_to_primary())
        step.set(canary_weight=0, iterations=0, mirrored=False)
        step.enter(Phase.FINALISING)
        step.say("finalising, routing all traffic to primary")
        return
    shifted = promotion_shift(step.analysis, routes)
    step.emit(msg.advance_primary_weight(step.names, shifted.primary))
    if shifted.primary >= TOTAL_WEIGHT:
        step.set(canary_weight=0, iterations=0, mirrored=False)
        step.enter(Phase.FINALISING)
        step.say(f"finalising, advance primary weight {shifted.primary}")
    else:
        step.set(canary_weight=shifted.canary)
        step.say(f"advance primary weight {shifted.primary}")


def _finalise(step: DecisionDraft) -> None:
    step.act(Action.SCALE_CANARY_DOWN)
    step.set(last_promoted_spec=step.before.last_applied_spec, canary_weight=0, iterations=0, mirrored=False)
    step.enter(Phase.SUCCEEDED)
    step.emit(msg.promotion_completed(step.names))
    step.post_rollout()
    step.say("promotion completed")


def _promote_without_analysis(step: DecisionDraft) -> None:
    """Flagger's ``shouldSkipAnalysis``: copy, scale down and succeed in one step, no webhooks."""
    step.emit(msg.copying_spec(step.names))
    step.act(Action.PROMOTE, Action.SCALE_CANARY_DOWN)
    step.primary_from_target = True
    step.set(last_promoted_spec=step.before.last_applied_spec, canary_weight=0, iterations=0, mirrored=False)
    step.enter(Phase.SUCCEEDED)
    step.emit(msg.promotion_skipped_analysis(step.names))
    step.say("promotion completed, canary analysis skipped")
