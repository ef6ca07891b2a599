"""The decision core: one Canary, its recorded state and one observation in, one Decision out.

``decide`` is Flagger's ``advanceCanary`` as a pure function. It never reads a
clock (time is ``observation.now``), never calls a webhook (gate answers are
in ``observation.webhooks``, see :mod:`gitflagger.decide.gates`) and never
touches the cluster: the engine carries the Decision out. That makes every
rule of Flagger's scheduler a table row in the tests instead of a fake clientset.

This module holds the entry points and the phases before a rollout is in
flight (initialization, steady phases, Waiting); :mod:`.progress` holds the
rest.
"""

from __future__ import annotations

from gitflagger.decide import messages as msg
from gitflagger.decide.decision import Action, Decision
from gitflagger.decide.draft import DecisionDraft
from gitflagger.decide.gates import GateBook
from gitflagger.decide.observation import ManualIntent, Observation
from gitflagger.decide.progress import in_flight
from gitflagger.decide.transitions import (
    HookOutcome,
    apply_revision,
    problem,
    promote,
    revision_pending,
    rollback,
    run_rollback_hooks,
    target_changed,
)
from gitflagger.decide.weights import current_routes
from gitflagger.model.canary import Canary, WebhookType
from gitflagger.model.status import Phase, State

_STEADY = (Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED)
_IN_FLIGHT = (Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING)


def decide(canary: Canary, state: State, observation: Observation) -> Decision:
    """Decide one step of a Canary's rollout, exactly as Flagger would, without doing any of it.

    Worked example: podinfo is Progressing at weight 10 (stepWeight 10,
    maxWeight 50); both deployments are ready and the success rate is 99.5%
    against a minimum of 99, so the canary advances to 20.

    >>> from datetime import datetime, UTC
    >>> from gitflagger.model.canary import *
    >>> from gitflagger.decide.observation import MetricResult
    >>> canary = Canary(V1BETA1, "podinfo", "test", CanarySpec(
    ...     ObjectRef("apps/v1", "Deployment", "podinfo"), ServiceSpec(port=9898),
    ...     Analysis(step_weight=10, max_weight=50, threshold=5, metrics=(
    ...         MetricCheck("request-success-rate", ThresholdRange(min=99)),))))
    >>> state = State(phase=Phase.PROGRESSING, canary_weight=10,
    ...               last_applied_spec="sha256:a", last_promoted_spec="sha256:0")
    >>> seen = Observation(now=datetime(2026, 1, 1, tzinfo=UTC), revision="sha256:a",
    ...     metrics={"request-success-rate": MetricResult.of("request-success-rate", 99.5)})
    >>> d = decide(canary, state, seen)
    >>> d.state.canary_weight, d.routes
    (20, Routes(primary=80, canary=20, mirror=False, match=False))
    >>> [e.message for e in d.events], d.subject
    (['Advance podinfo.test canary weight 20'], 'podinfo.test: advance canary weight 20')

    Had the success rate been 69.17%, the weight would have stayed at 10,
    ``failed_checks`` would have gone up by one and the event would read
    ``Halt podinfo.test advancement success rate 69.17% < 99%``.
    """
    return _run(canary, state, observation, GateBook(canary.spec.analysis, observation.webhooks))


def gates_due(canary: Canary, state: State, observation: Observation) -> tuple[WebhookType, ...]:
    """The gate webhook types the engine must call before :func:`decide` for this step.

    In Flagger's calling order, and only types with at least one webhook not yet
    answered in ``observation.webhooks``. Calling all of them is always enough.
    An engine that wants Flagger's lazy calling can instead call the first
    type, add its answers to the observation and ask again: the list then
    follows the path those answers chose (a rollback that fired needs nothing
    more, a failed rollout webhook skips the later gates).
    """
    book = GateBook(canary.spec.analysis, observation.webhooks, optimistic=True)
    _run(canary, state, observation, book)
    return tuple(book.due)


def metrics_due(canary: Canary, state: State, observation: Observation) -> tuple[str, ...]:
    """The analysis metrics :func:`decide` will judge this step; empty when no analysis runs.

    Metrics the engine does not measure count as failed checks, so an engine
    that skips queries outside the analysis uses this to know when to query.
    """
    book = GateBook(canary.spec.analysis, observation.webhooks, optimistic=True)
    _run(canary, state, observation, book)
    return tuple(book.metrics)


def _run(canary: Canary, state: State, observation: Observation, book: GateBook) -> Decision:
    if canary.spec.suspend:
        # Flagger skips suspended canaries entirely; so do we, and the intent waits.
        return Decision(
            state=state,
            routes=current_routes(canary.spec.analysis, state),
            subject=f"{canary.key}: suspended, no change",
        )
    step = DecisionDraft.start(canary, state, observation, book)
    phase = state.phase
    if phase is None or phase is Phase.INITIALIZING:
        _initialize(step)
    elif phase is Phase.WAITING:
        _waiting(step)
    elif phase in _IN_FLIGHT:
        in_flight(step)
    elif phase in _STEADY:
        _steady(step)
    else:  # Terminating/Terminated belong to the finalizer, not to the rollout
        step.say(f"{phase.value.lower()}, no change")
    return step.finish()


def _initialize(step: DecisionDraft) -> None:
    """Create the primary from the target, route everything to it, scale the target down.

    Flagger takes two passes: Initializing creates the objects, Initialized
    follows once the primary is ready. The target's revision is recorded on the
    first pass, so a target that changes before the primary is ready is copied
    again rather than silently marked as promoted.
    """
    if step.obs.manual is not None:
        step.ignore_intent(step.obs.manual, "the canary is initializing")
    if step.obs.providers:  # Flagger checks them before it creates or waits for the primary
        step.emit(msg.providers_unavailable(step.obs.providers))
    if step.phase is None or target_changed(step.before, step.obs):
        step.act(Action.INITIALIZE, Action.SCALE_CANARY_DOWN)
        step.primary_from_target = True
        apply_revision(step)
        step.set(canary_weight=0, failed_checks=0, iterations=0, mirrored=False)
        step.enter(Phase.INITIALIZING)
        step.say(f"initializing, creating {step.canary.primary_name}")
        return
    trouble = problem(
        step.obs.primary, step.canary.primary_name, step.canary.namespace, step.names.kind
    )
    if trouble is not None:
        step.emit(msg.not_ready(step.names, trouble))
        step.say("initializing, waiting for primary")
        return
    step.set(last_promoted_spec=step.obs.revision)
    step.enter(Phase.INITIALIZED)
    step.emit(msg.initialization_done(step.names))
    step.say("initialization done")


def _steady(step: DecisionDraft) -> None:
    """Initialized, Succeeded or Failed: start a rollout when a new revision shows up."""
    before, obs = step.before, step.obs
    pending = revision_pending(before, obs)
    intent = obs.manual
    if intent is ManualIntent.RETRY:
        if step.phase is Phase.FAILED:
            step.handled_intent = intent
            _start_rollout(step, retry=True)
            return
        step.ignore_intent(intent, "only a Failed canary can be retried")
    elif intent is ManualIntent.PROMOTE:
        if pending or obs.revision != before.last_promoted_spec:
            step.handled_intent = intent
            step.emit(msg.manual_promotion(step.names))
            apply_revision(step)
            step.set(canary_weight=0, failed_checks=0, iterations=0, mirrored=False)
            promote(step)
            return
        step.ignore_intent(intent, "nothing to promote")
    elif intent is ManualIntent.ABORT:
        step.ignore_intent(intent, "no rollout in progress")

    if _adopt_foreign_hash(step):
        return
    if pending:
        _start_rollout(step)
    elif step.phase is Phase.FAILED and obs.revision != before.last_applied_spec:
        # The target went back to the promoted spec: Flagger syncs lastAppliedSpec,
        # so re-applying the failed revision later starts a fresh analysis.
        apply_revision(step)
        step.say("target reverted to the promoted revision")


def _adopt_foreign_hash(step: DecisionDraft) -> bool:
    """Take over a settled canary whose status hashes come from Flagger (or another scheme).

    gitflagger's revisions are ``sha256:…``; Flagger's ``lastAppliedSpec`` is a
    different hash of the same template. Comparing them would start a rollout of
    an unchanged spec, so a settled canary (nothing pending in Flagger's own
    view) records the current revision as applied and promoted instead.
    """
    before, obs = step.before, step.obs
    if step.phase not in (Phase.INITIALIZED, Phase.SUCCEEDED):
        return False
    old = before.last_applied_spec
    if not old or _scheme(old) == _scheme(obs.revision) or old != before.last_promoted_spec:
        return False
    apply_revision(step)
    step.set(last_promoted_spec=obs.revision)
    step.say(f"adopt revision {obs.revision} as promoted")
    return True


def _scheme(revision: str) -> str:
    return revision.split(":", 1)[0] if ":" in revision else ""


def _waiting(step: DecisionDraft) -> None:
    """Waiting for ``confirm-rollout`` approval; ``rollback`` webhooks can still abort."""
    intent = step.obs.manual
    if intent is ManualIntent.ABORT:
        step.handled_intent = intent
        step.emit(msg.manual_abort(step.names))
        rollback(step, "manual abort")
        return
    if intent is ManualIntent.PROMOTE:
        step.handled_intent = intent
        step.emit(msg.manual_promotion(step.names))
        apply_revision(step)
        promote(step)
        return
    if intent is ManualIntent.RETRY:
        step.ignore_intent(intent, "the canary is waiting for approval")
    if run_rollback_hooks(step) is not HookOutcome.QUIET:
        return
    _start_rollout(step)


def _start_rollout(step: DecisionDraft, *, retry: bool = False) -> None:
    """Flagger's ``checkCanaryStatus`` for a new revision: confirm-rollout gates, then scale up.

    The analysis itself starts on the next step, once the canary is ready.
    """
    names = step.names
    if not step.canary.spec.skip_analysis:
        trouble = problem(
            step.obs.primary, step.canary.primary_name, step.canary.namespace, step.names.kind
        )
        if trouble is not None:
            step.emit(msg.not_ready(names, trouble))
            step.say("halt advancement, primary not ready")
            return
    for answer in step.book.answers(WebhookType.CONFIRM_ROLLOUT):
        name = answer.webhook.name
        if not answer.ok:
            apply_revision(step)
            if step.phase is not Phase.WAITING:
                step.set(canary_weight=0, failed_checks=0, iterations=0, mirrored=False)
                step.enter(Phase.WAITING)
                step.emit(msg.waiting_for_approval(names, name, answer.webhook.mute_alert))
            step.say(f"halt advancement, waiting for approval {name}")
            return
        step.emit(msg.confirm_rollout_passed(name))
    step.emit(msg.manual_retry(names) if retry else msg.new_revision(names))
    step.act(Action.SCALE_CANARY_UP)
    apply_revision(step)
    step.set(canary_weight=0, failed_checks=0, iterations=0, mirrored=False)
    step.enter(Phase.PROGRESSING, restart=True)
    step.say("retry, scaling up" if retry else "new revision detected, scaling up")
