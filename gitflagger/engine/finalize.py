"""Canary deletion: ``revertOnDeletion`` with a finalizer, as Flagger does it, one commit per step.

Without ``revertOnDeletion`` deleting a Canary simply garbage-collects what it
generated (every generated object names the Canary as its owner) and leaves
the target scaled to zero, Flagger's behaviour.

With it, gitflagger holds a finalizer (Flagger's name, ``finalizer.flagger.app``,
so a Canary moved over from Flagger keeps working) and, on deletion, gives the
workload back to the target in two steps, each recorded in the config repo
like a rollout step before it is carried out (the controller's pass: record,
persist and push, then act):

1. **Terminating:** scale the target to the primary's replicas. The commit
   keeps the Canary's objects as they are (rendered with the current routes),
   since nothing may route to the target before it is ready.
2. **Terminated**, once the target is ready: the apex Service selecting the
   target's pods and the router's route sending all traffic to it, both
   without an owner (:mod:`gitflagger.render.restore`). The commit holds only
   these two, which is what stays in the cluster.

Then the finalizer is removed and garbage collection deletes the primary, the
``-primary``/``-canary`` Services and the rest. With ``--apply-mode git-only``
the GitOps tool applies the restored objects; the finalizer is held until the
live apex Service has lost its owner reference, so garbage collection cannot
take it first.

In git-only mode the finalizer is held on every Canary: one without
``revertOnDeletion`` gets a single step removing its directory instead
(:mod:`gitflagger.engine.prune`), else the GitOps tool would re-apply what
garbage collection deletes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitflagger.adapters.git import RecordedStep
from gitflagger.adapters.git.recorder import Persisted
from gitflagger.adapters.kube.health import workload_health
from gitflagger.decide import Decision, Routes, current_routes
from gitflagger.engine.context import ApplyMode, Context
from gitflagger.engine.observe import APPS_V1, Live, first_look, read_live
from gitflagger.engine.ports import ClusterPort, Obj
from gitflagger.engine.prune import record_removal, reverts
from gitflagger.engine.report import write_status
from gitflagger.engine.scaling import give_back, given_back, scale_up_replicas
from gitflagger.errors import ValidationError
from gitflagger.model.canary import DAEMONSET, Canary
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import Phase, State
from gitflagger.render import Manifest, render
from gitflagger.render.restore import restored
from gitflagger.render.routers import check_routing

FINALIZER = "finalizer.flagger.app"


def wants_finalizer(canary_obj: Mapping[str, Any], *, git_only: bool = False) -> bool:
    """``spec.revertOnDeletion`` is set, or git-only mode (deletion commits the directory's removal:
    :mod:`gitflagger.engine.prune`)."""
    return git_only or reverts(canary_obj)


def has_finalizer(canary_obj: Mapping[str, Any]) -> bool:
    return FINALIZER in ((canary_obj.get("metadata") or {}).get("finalizers") or ())


def deleting(canary_obj: Mapping[str, Any]) -> bool:
    return bool((canary_obj.get("metadata") or {}).get("deletionTimestamp"))


def sync_finalizer(cluster: ClusterPort, canary_obj: Obj, *, git_only: bool = False) -> Obj:
    """Add or remove our finalizer to match :func:`wants_finalizer`; return the Canary as it is now."""
    if deleting(canary_obj):
        return canary_obj
    wanted = wants_finalizer(canary_obj, git_only=git_only)
    if wanted and not has_finalizer(canary_obj):
        return cluster.add_finalizer(canary_obj, FINALIZER)
    if not wanted and has_finalizer(canary_obj):
        return cluster.remove_finalizer(canary_obj, FINALIZER)
    return canary_obj


@dataclass(frozen=True)
class Finalizing:
    """A finalization step recorded (the pass's first phase), to carry out once its commit is durable."""

    canary_obj: Obj
    canary: Canary
    state: State
    """The state after the step (``Terminating`` or ``Terminated``)."""
    commit: str | None
    scale_to: int | None = None
    """Step 1: the target's replicas."""
    restore: tuple[Manifest, ...] = ()
    """Step 2: the objects that outlive the Canary."""
    live: Live | None = None
    """Step 1: what the target and its autoscaler looked like when the step was decided."""
    removes: bool = False
    """Git-only mode without ``revertOnDeletion``: the step removed the Canary's directory."""


def prepare_finalize(ctx: Context, canary_obj: Obj) -> Finalizing | tuple[bool, str]:
    """Decide and record the next finalization step; ``(done, what)`` when there is none to record."""
    cluster = ctx.cluster
    if not has_finalizer(canary_obj):
        return True, "no finalizer"
    if not reverts(canary_obj) and ctx.apply_mode is not ApplyMode.GIT_ONLY:  # held from git-only mode
        cluster.remove_finalizer(canary_obj, FINALIZER)
        return True, "no revertOnDeletion: garbage collection deletes what it generated"
    if not reverts(canary_obj):
        removal = record_removal(ctx, canary_obj)
        if isinstance(removal, str):
            cluster.remove_finalizer(canary_obj, FINALIZER)
            return True, removal
        canary, after, commit = removal
        return Finalizing(canary_obj, canary, after, commit, removes=True)
    try:
        canary = parse_canary(canary_obj, default_provider=ctx.mesh_provider)
        check_routing(canary)
    except ValidationError:
        cluster.remove_finalizer(canary_obj, FINALIZER)
        return True, "invalid Canary: nothing to revert"
    if cluster.get(APPS_V1, canary.spec.target_ref.kind, canary.namespace, canary.target_name) is None:
        cluster.remove_finalizer(canary_obj, FINALIZER)
        return True, "target gone: nothing to revert"
    live = read_live(cluster, canary)
    state = State.from_status(canary_obj.get("status"))
    if state.phase is Phase.TERMINATED:  # recorded and carried out; only the finalizer is left
        return release(ctx, canary_obj, canary)
    now = ctx.clock()
    replicas = _replicas(live)
    if not given_back(canary, live, replicas):
        routes = current_routes(canary.spec.analysis, state)
        after = state.evolve(phase=Phase.TERMINATING, step=state.step + 1, last_step_time=now)
        subject = f"{canary.key}: terminating, scale {canary.target_name} back up" + (
            "" if canary.spec.target_ref.kind == DAEMONSET else f" to {replicas}"
        )
        decision = Decision(after, routes, subject=subject, primary_from_target=live.primary is None)
        manifests = render(
            canary,
            live.inputs(),
            decision,
            include_label_prefixes=ctx.labelling.include_label_prefixes,
            selector_labels=ctx.labelling.selector_labels,
        )
        commit = _record(ctx, canary, live, decision, manifests)
        return Finalizing(canary_obj, canary, after, commit, scale_to=replicas, live=live)
    health = workload_health(canary.spec.target_ref.kind, live.target)
    if not health.ready:
        return False, health.message or f"waiting for {canary.target_name}"
    after = state.evolve(phase=Phase.TERMINATED, step=state.step + 1, last_step_time=now)
    subject = f"{canary.key}: terminated, all traffic to {canary.target_name}"
    decision = Decision(after, Routes(), subject=subject)
    manifests = restored(canary, live.inputs(), selector_labels=ctx.labelling.selector_labels)
    commit = _record(ctx, canary, live, decision, manifests)
    return Finalizing(canary_obj, canary, after, commit, restore=manifests)


def finish_finalize(ctx: Context, step: Finalizing, persisted: Persisted | None = None) -> tuple[bool, str]:
    """Carry out a recorded step once the record is durable: scale or restore, then status and Event."""
    commit = step.commit
    if persisted is not None and commit is not None:
        if commit in persisted.dropped:
            return False, f"not recorded: {persisted.dropped[commit]}"
        commit = persisted.final(commit)
    canary, cluster = step.canary, ctx.cluster
    ctx.guard()
    if step.removes:  # the remote holds the removal (or had it already): Flux prunes, GC takes the rest
        cluster.emit_event(step.canary_obj, f"Deleted {canary.key}: its directory left the config repo")
        cluster.remove_finalizer(step.canary_obj, FINALIZER)
        return True, "directory removed from the config repo"
    if step.scale_to is not None and step.live is not None:
        give_back(cluster, canary, step.live, step.scale_to)
        write_status(cluster, step.canary_obj, step.state, commit or "")
        cluster.emit_event(step.canary_obj, f"Terminating {canary.key}: scaling {canary.target_name} back up")
        return False, f"scaled {canary.target_name} to {step.scale_to}"
    if ctx.apply_mode is ApplyMode.SSA:
        cluster.apply(list(step.restore))
    obj = write_status(cluster, step.canary_obj, step.state, commit or "")
    cluster.emit_event(step.canary_obj, f"Terminated {canary.key}: workload reverted to {canary.target_name}")
    return release(ctx, obj, canary)


def release(ctx: Context, canary_obj: Obj, canary: Canary) -> tuple[bool, str]:
    """Remove the finalizer once the restored apex Service is live and owned by no one.

    With server-side apply it is (the apply just returned); with ``git-only``
    the GitOps tool may not have applied the last commit yet, and garbage
    collection would delete a Service that still names the Canary as its owner.
    """
    if ctx.apply_mode is ApplyMode.GIT_ONLY:
        live = ctx.cluster.get("v1", "Service", canary.namespace, canary.service_name)
        owners = ((live or {}).get("metadata") or {}).get("ownerReferences") or ()
        if live is None or any(o.get("kind") == "Canary" for o in owners):
            return False, f"waiting for service {canary.service_name} to be applied without its owner"
    ctx.cluster.remove_finalizer(canary_obj, FINALIZER)
    return True, f"reverted to {canary.target_name}"


def _record(
    ctx: Context, canary: Canary, live: Live, decision: Decision, manifests: tuple[Manifest, ...]
) -> str | None:
    now = decision.state.last_step_time
    assert now is not None
    revision = first_look(canary, live, now).revision
    step = RecordedStep(canary=canary, decision=decision, manifests=manifests, revision=revision, time=now)
    ctx.guard()
    result = ctx.recorder.record(step)
    if result.commit_id:
        ctx.telemetry.commits.labels(canary.namespace).inc()
    return result.commit_id or result.existing


def _replicas(live: Live) -> int:
    """The primary's replicas (it served the traffic), else Flagger's ``ScaleFromZero`` count."""
    replicas = ((live.primary or {}).get("spec") or {}).get("replicas")
    if isinstance(replicas, int) and replicas > 0:
        return replicas
    return scale_up_replicas(live)
