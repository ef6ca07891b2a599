"""Transitions shared by several phases: promote, roll back, and the checks that lead to them."""

from __future__ import annotations

from enum import Enum

from gitflagger.decide import messages as msg
from gitflagger.decide.decision import Action
from gitflagger.decide.draft import DecisionDraft
from gitflagger.decide.observation import Observation, WorkloadHealth
from gitflagger.model.canary import WebhookType
from gitflagger.model.status import Phase, State


class HookOutcome(Enum):
    QUIET = "quiet"
    """No rollback webhook asked for a rollback: carry on."""
    ROLLED_BACK = "rolled-back"
    HALTED = "halted"
    """A rollback webhook had no answer: do nothing this step rather than guess."""


def target_changed(before: State, obs: Observation) -> bool:
    """The target differs from the revision the current analysis (or the last step) applied."""
    return obs.revision != before.last_applied_spec or dict(obs.tracked_configs) != dict(
        before.tracked_configs
    )


def revision_pending(before: State, obs: Observation) -> bool:
    """A new revision to analyse, per Flagger's ``HasTargetChanged``/``HaveDependenciesChanged``.

    The pod template differs from the last applied one *and* from the last
    promoted one (going back to the promoted spec is a manual rollback, not a
    release), or a tracked ConfigMap/Secret changed.
    """
    spec_changed = obs.revision not in (before.last_applied_spec, before.last_promoted_spec)
    return spec_changed or dict(obs.tracked_configs) != dict(before.tracked_configs)


def apply_revision(step: DecisionDraft) -> None:
    """Record the target's revision as the one this rollout is about (Flagger's ``SyncStatus``)."""
    step.set(last_applied_spec=step.obs.revision, tracked_configs=dict(step.obs.tracked_configs))


def problem(
    health: WorkloadHealth, workload: str, namespace: str, kind: str = "Deployment"
) -> str | None:
    """Why a workload (of ``kind``, the target's) is not ready, in Flagger's words; ``None`` when ready."""
    if not health.exists:
        return f"{kind.lower()} {workload}.{namespace} not found"
    if health.deadline_exceeded:
        return health.message or f'{kind.lower()} "{workload}" exceeded its progress deadline'
    if health.ready:
        return None
    return health.message or "waiting for rollout to finish"


def deadline_passed(step: DecisionDraft, health: WorkloadHealth) -> bool:
    """``progressDeadlineSeconds`` ran out: Flagger's non-retriable readiness error.

    Measured from when the Deployment became unavailable, as Flagger does, or
    from the Canary's last phase change when the adapter could not tell.
    """
    if health.deadline_exceeded:
        return True
    since = health.unavailable_since or step.before.last_transition_time
    if since is None:
        return False
    return (step.obs.now - since).total_seconds() > step.canary.spec.progress_deadline_seconds


def promote(step: DecisionDraft) -> None:
    """Copy the target's template and config to the primary (Flagger's ``Promote``) and start Promoting.

    The routes stay as they are: traffic returns to the primary only once the
    primary's rolling update has finished.
    """
    step.emit(msg.copying_spec(step.names))
    step.act(Action.PROMOTE)
    step.primary_from_target = True
    step.enter(Phase.PROMOTING)
    step.say(f"promoting, copying template spec to {step.canary.primary_name}")


def rollback(step: DecisionDraft, reason: str) -> None:
    """Flagger's ``rollback``: all traffic to the primary, canary to zero, phase Failed.

    ``failedChecks`` is kept (Flagger's newest releases zero it): the status
    then says why the canary failed, as Flagger's own tutorials show.
    """
    failed = step.state.failed_checks
    if failed >= step.analysis.threshold:
        step.emit(msg.threshold_reached(step.names, failed))
    step.emit(msg.canary_failed(step.names))
    step.act(Action.SCALE_CANARY_DOWN)
    step.set(canary_weight=0, iterations=0, mirrored=False)
    step.enter(Phase.FAILED)
    step.post_rollout()
    step.say(f"rollback, {reason}")


def run_rollback_hooks(step: DecisionDraft) -> HookOutcome:
    """Flagger's ``runRollbackHooks``: a ``rollback`` webhook answering 2xx aborts the rollout."""
    for answer in step.book.answers(WebhookType.ROLLBACK):
        name = answer.webhook.name
        if answer.missing:
            step.emit(msg.rollback_hook_missing(step.names, name))
            step.say(f"halt advancement, rollback check {name} has no result")
            return HookOutcome.HALTED
        if answer.ok:
            step.emit(msg.rollback_hook_passed(name), msg.rollback_webhook(step.names))
            rollback(step, "manual webhook invoked")
            return HookOutcome.ROLLED_BACK
        step.emit(msg.rollback_hook_quiet(name))
    return HookOutcome.QUIET


def halt_summary(text: str, names: msg.Names) -> str:
    """A halt event's text as a commit subject: ``halt advancement, success rate 69.17% < 99%``."""
    prefix = f"Halt {names.canary} advancement "
    if text.startswith(prefix):
        return "halt advancement, " + text[len(prefix) :]
    if text.startswith("Halt advancement "):
        return "halt advancement, " + text[len("Halt advancement ") :]
    return "halt advancement, " + text[:1].lower() + text[1:]
