"""One step of one Canary on a live cluster: observe → decide → render → record → apply → report.

:func:`reconcile_one` is the whole pipeline (ARCHITECTURE.md, *The pipeline*) for one Canary object
as the watch delivered it. It never raises for a problem of that one Canary:
an invalid spec, a missing target, an API error all come back as a
:class:`StepOutcome` saying why no step ran, so the controller keeps
reconciling the others. The order of the side effects is what makes a crash at
any point safe:

1. **record** first, and durably: the commit carries the step's Step-Id. If
   the process dies before the status is written, the next attempt decides
   the very same step (same state in, same step number out), the recorder
   sees that Step-Id at the head and records nothing twice;
2. **apply** next: server-side apply is idempotent;
3. **status** last among the essentials: once it is written, the step is done
   and ``lastStepTime`` paces the next one;
4. then the best-effort reports (Events, webhooks, alerts) and the
   acknowledgement of a consumed manual intent.

The pipeline is split in two phases so that the controller can record a whole
pass as one batch (the record port, :class:`~gitflagger.engine.ports.RecordPort`:
one pack and one branch update instead of files per step):
:func:`prepare_one` runs observe → record, :func:`persist` makes the batch
durable, and only then :func:`finish_one` applies and reports. A crash before
the persist loses only commits that nothing acted on (nothing was applied);
after it, every step of the pass is at the head and a retry records none of
them twice. :func:`reconcile_one` is the three in a row, for one Canary.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitflagger import killswitch
from gitflagger.adapters.git.intents import PendingIntent
from gitflagger.adapters.git.recorder import Persisted
from gitflagger.decide import Decision, MetricOutcome
from gitflagger.engine.alerting import AlertTarget
from gitflagger.engine.apply import Applied, apply_step
from gitflagger.engine.context import ApplyMode as ApplyMode
from gitflagger.engine.context import CanaryMemory as CanaryMemory
from gitflagger.engine.context import Context as Context
from gitflagger.engine.cross_namespace import check_namespace_refs
from gitflagger.engine.faults import report_fault
from gitflagger.engine.git_only import wait_reason
from gitflagger.engine.observe import (
    Live,
    ask_gates,
    check_providers_while_initializing,
    first_look,
    measure,
    read_live,
)
from gitflagger.engine.plan import Plan, plan_step
from gitflagger.engine.ports import Obj, RecordPort
from gitflagger.engine.report import announce, write_status
from gitflagger.engine.telemetry import logger
from gitflagger.errors import GitflaggerError, ValidationError
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import State
from gitflagger.render.routers import check_routing


class LeadershipLost(Exception):  # a signal to stop the controller, not a failure of one Canary
    """This replica is no longer the leader: stop writing at once.

    Deliberately not a :class:`GitflaggerError`: it must escape
    :func:`reconcile_one` (which turns per-Canary errors into outcomes) and
    stop the whole controller.
    """


@dataclass(frozen=True)
class StepOutcome:
    """What one reconcile did. ``skipped`` says why no step ran; ``error`` is set when that is a fault."""

    canary: str
    decision: Decision | None = None
    commit: str | None = None
    obj: Obj | None = None
    """The Canary as the status patch returned it: the controller's next starting point."""
    skipped: str = ""
    error: str = ""
    applied: Applied | None = None

    @property
    def stepped(self) -> bool:
        return self.decision is not None


@dataclass
class Prepared:
    """A step decided, rendered and recorded (phase 1), waiting to be applied and reported (phase 2).

    Its commit may still be only in memory (an open batch of the record port): it
    must not be applied before the recorder persisted it (:func:`persist`).
    """

    canary_obj: Mapping[str, Any]
    canary: Canary
    state: State
    """The state before the step."""
    live: Live
    plan: Plan
    pending: PendingIntent | None
    commit: str | None
    log: Any
    started: float
    alerts: tuple[AlertTarget, ...] = ()
    """The Canary's alert providers, resolved at observe (report only posts to them)."""


def reconcile_one(
    ctx: Context, canary_obj: Mapping[str, Any], memory: CanaryMemory | None = None
) -> StepOutcome:
    """Run one step of the Canary ``canary_obj``; see the module doc for the order and its reasons.

    ``memory`` is what earlier steps left (drift is measured against what the
    last step applied); without it the step starts from nothing, as
    ``gitflagger reconcile`` does.

    The single-Canary form of the controller's two-phase pass: prepare (up to
    the record), make the record durable, then apply and report.
    """
    memory = memory if memory is not None else CanaryMemory()
    ctx.alerting.new_pass()
    if ctx.flux is not None:
        ctx.flux.new_pass()
    prepared = prepare_one(ctx, canary_obj, memory)
    if isinstance(prepared, StepOutcome):
        nudge_flux(ctx)
        return prepared
    try:
        persisted = persist(ctx.recorder)
    except GitflaggerError as err:
        prepared.log.warning("step failed", error=str(err))
        return StepOutcome(prepared.canary.ref, error=str(err))
    outcome = finish_one(ctx, prepared, memory, persisted)
    nudge_flux(ctx)
    return outcome


def nudge_flux(ctx: Context) -> None:
    """git-only mode with Flux: ask it to reconcile what the steps just pushed (:mod:`.flux`)."""
    if ctx.flux is None:
        return
    for failure in ctx.flux.nudge():
        logger(component="flux").warning("nudge failed", error=failure)


def prepare_one(ctx: Context, canary_obj: Mapping[str, Any], memory: CanaryMemory) -> Prepared | StepOutcome:
    """Phase 1: observe → decide → render → record. A :class:`StepOutcome` when no step goes on.

    Never raises for a fault of this one Canary, not even an unexpected exception
    (:mod:`.faults`); only :class:`LeadershipLost` escapes. A batch stays whole when
    a record fails part-way: the recorder adds a step to it only once its commit is written.
    """
    ref = _ref(canary_obj)
    log = logger(canary=ref.partition("/")[2], namespace=ref.partition("/")[0])
    started = time.monotonic()
    try:
        try:
            canary = parse_canary(canary_obj, default_provider=ctx.mesh_provider)
            check_routing(canary)
            if ctx.no_cross_namespace_refs:
                check_namespace_refs(canary_obj, canary)
        except ValidationError as err:
            return _invalid(ctx, memory, canary_obj, ref, err, log)
        memory.invalid.pop(ref, None)
        return _prepare(ctx, memory, canary_obj, canary, log, started)
    except GitflaggerError as err:
        log.warning("step failed", error=str(err))
        return StepOutcome(ref, error=str(err))
    except LeadershipLost:
        raise
    except Exception as err:
        return StepOutcome(ref, error=fault(ctx, memory, canary_obj, "preparing the step", err, log))


def finish_one(
    ctx: Context, prepared: Prepared, memory: CanaryMemory, persisted: Persisted | None = None
) -> StepOutcome:
    """Phase 2, once the record is durable: apply → status → reports.

    ``persisted`` says what became of a batch's provisional commit: its final
    id, or that it was dropped (another writer changed the Canary's
    directory), in which case nothing is applied and the step is retried.
    """
    p = prepared
    commit = p.commit
    if persisted is not None and commit is not None:
        if commit in persisted.dropped:
            why = f"not recorded: {persisted.dropped[commit]}"
            p.log.warning("step failed", error=why)
            return StepOutcome(p.canary.ref, error=why)
        commit = persisted.final(commit)
    try:
        outcome = _finish(ctx, memory, p, commit)
    except GitflaggerError as err:
        p.log.warning("step failed", error=str(err))
        return StepOutcome(p.canary.ref, error=str(err))
    except LeadershipLost:
        raise
    except Exception as err:  # see prepare_one: confined to this Canary
        return StepOutcome(
            p.canary.ref, error=fault(ctx, memory, p.canary_obj, "finishing the step", err, p.log)
        )
    memory.faults.pop(p.canary.ref, None)
    elapsed = time.monotonic() - p.started
    ctx.telemetry.duration.labels(p.canary.target_name, p.canary.namespace).observe(elapsed)
    return outcome


def fault(
    ctx: Context, memory: CanaryMemory, canary_obj: Mapping[str, Any], stage: str, err: Exception, log: Any
) -> str:
    """An unexpected exception in ``stage`` of this Canary's step: report it (:mod:`.faults`).

    Returns the one line said, for the step's outcome.
    """
    return report_fault(ctx.cluster, ctx.telemetry, memory.faults, canary_obj, stage, err, log)


def persist(recorder: RecordPort) -> Persisted:
    """Make the recorder's open batch durable and, for a remote, pushed (see :class:`RecordPort`)."""
    return recorder.publish(recorder.persist())


def _prepare(
    ctx: Context, memory: CanaryMemory, canary_obj: Mapping[str, Any], canary: Canary, log: Any,
    started: float,
) -> Prepared | StepOutcome:
    state = State.from_status(canary_obj.get("status"))
    if state.phase is None and ctx.intents is not None:
        # No status (restored without it, wiped): resume from the last recorded step, if any.
        recorded = ctx.intents.recorded_status(canary.ref)
        if recorded:
            state = State.from_status(recorded)
            log.warning("no status on the Canary, resuming from the config repo", phase=str(state.phase))
    live = read_live(ctx.cluster, canary)
    if ctx.apply_mode is ApplyMode.GIT_ONLY and state.phase is not None:
        lag = wait_reason(ctx, memory, canary_obj, canary, state, live, log)
        if lag:
            log.info("waiting for the committed state", detail=lag)
            return StepOutcome(canary.ref, skipped=f"waiting for the committed state to be applied: {lag}")
    if live.primary is None and state.phase is not None:
        # The primary was deleted behind our back: initialize again, as Flagger does.
        log.warning("primary missing, initializing again", primary=canary.primary_name)
        state = State(step=state.step, last_commit=state.last_commit)
    pending = ctx.intents.read(canary.ref) if ctx.intents is not None else None
    now = ctx.clock()
    seen = first_look(canary, live, now, pending.intent if pending else None)
    seen = measure(ctx.cluster, canary, state, seen, ctx.metrics_server)
    seen = check_providers_while_initializing(ctx.cluster, canary, state, seen, ctx.metrics_server)
    seen = ask_gates(canary, state, seen)
    plan = plan_step(canary, state, seen, live.inputs(), ctx.labelling)
    log = log.bind(step=plan.decision.state.step)
    alerts = ctx.alerting.resolve(canary, log)

    ctx.guard()
    commit = _record(ctx, plan, log)
    return Prepared(canary_obj, canary, state, live, plan, pending, commit, log, started, alerts)


def _finish(ctx: Context, memory: CanaryMemory, p: Prepared, commit: str | None) -> StepOutcome:
    decision = p.plan.decision
    ctx.guard()
    applied = _apply(ctx, memory, p.canary, p.live, p.plan)
    if ctx.flux is not None and commit and commit != p.state.last_commit:
        ctx.flux.want_nudge(ctx.flux.carrier(p.canary.namespace, p.canary.name))
    killswitch.point("applied")
    ctx.guard()
    obj = write_status(ctx.cluster, p.canary_obj, decision.state, commit or p.state.last_commit)
    if p.pending is not None and decision.handled_intent is p.pending.intent:
        _acknowledge(ctx, p.pending, decision, p.log)
    announce(
        ctx.cluster, p.canary_obj, p.canary, decision, applied.drift, ctx.reporting, ctx.telemetry,
        commit or p.state.last_commit,
        p.alerts,
    )
    _export(ctx, p.canary, p.state, p.plan)
    p.log.info("step", subject=decision.subject, commit=commit, phase=str(decision.state.phase or ""))
    return StepOutcome(p.canary.ref, decision, commit, obj, applied=applied)


def _record(ctx: Context, plan: Plan, log: Any) -> str | None:
    """Commit a step that changed something; a step that only repeats itself records nothing.

    "Changed" is the decision core's verdict (state, routes or actions). A
    repeated halt is not a step: without this rule the first halt under a new
    revision (a new Step-Id) would be committed although nothing moved. The
    objects are still applied, so an HPA edited by its owner reaches the
    primary at once and the repo at the next step that changes something.
    """
    if not plan.decision.changed:
        return None
    result = ctx.recorder.record(plan.step)
    if result.commit_id:
        ctx.telemetry.commits.labels(plan.step.canary.namespace).inc()
    elif result.skipped_reason is not None:
        log.info("record skipped", reason=str(result.skipped_reason))
    return result.commit_id or result.existing  # a step recorded before a crash: its own commit


def _apply(ctx: Context, memory: CanaryMemory, canary: Canary, live: Live, plan: Plan) -> Applied:
    applied_before = memory.applied.setdefault(canary.ref, {})
    with ctx.telemetry.apply_seconds.time():
        return apply_step(
            ctx.cluster,
            canary,
            live,
            plan.decision,
            plan.manifests,
            applied_before,
            apply_objects=ctx.apply_mode is ApplyMode.SSA,
        )


def _acknowledge(ctx: Context, pending: PendingIntent, decision: Decision, log: Any) -> None:
    assert ctx.intents is not None
    outcome = "\n".join(e.message for e in decision.events) or decision.subject
    try:
        ctx.intents.acknowledge(pending, outcome, now=decision.state.last_step_time)
    except GitflaggerError as err:  # the intent stays pending; the decision core ignores a stale one
        log.warning("intent acknowledgement failed", intent=pending.intent.value, error=str(err))


def _export(ctx: Context, canary: Canary, before: State, plan: Plan) -> None:
    """The step in Flagger's metrics: status, weights, per-metric values, the end of a rollout."""
    decision = plan.decision
    t = ctx.telemetry
    t.observe_step(canary, decision.state.phase, decision.routes.primary, decision.routes.canary)
    t.observe_outcome(canary, before.phase, decision.state.phase)
    for name, result in plan.step.metrics.items():
        if result.outcome is MetricOutcome.VALUE and result.value is not None:
            t.metric_analysis.labels(canary.target_name, canary.namespace, name).set(result.value)


def _invalid(
    ctx: Context,
    memory: CanaryMemory,
    canary_obj: Mapping[str, Any],
    ref: str,
    err: ValidationError,
    log: Any,
) -> StepOutcome:
    """A Canary that does not validate: one Warning event naming the fields, then silence until it changes."""
    message = str(err)
    if memory.invalid.get(ref) != message:
        memory.invalid[ref] = message
        log.warning("invalid canary", error=message)
        try:
            ctx.cluster.emit_event(canary_obj, message, warning=True, reason="InvalidSpec")
        except GitflaggerError as event_err:
            log.warning("kubernetes event failed", error=str(event_err))
    return StepOutcome(ref, skipped="invalid", error=message)


def _ref(canary_obj: Mapping[str, Any]) -> str:
    meta = canary_obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"
