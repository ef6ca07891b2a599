"""A Canary deleted in git-only mode without ``revertOnDeletion``: one commit removes its directory.

In server-side-apply mode garbage collection deletes what a Canary generated
(every object names it as owner). In git-only mode that is not enough: the
objects are still in the config repo, so the GitOps tool applies them again
right after garbage collection took them, for ever. So gitflagger holds its
finalizer on every Canary in that mode and, on deletion, records one step
that removes the Canary's directory. Once the remote holds that commit (the
controller's pass: record, persist and push, then act) the finalizer goes,
and the GitOps tool's pruning (Flux's ``prune: true``) and garbage collection
remove the objects; nothing in git brings them back.

A re-run (a restart after the push) finds the directory already gone: the
recorder reports the step unchanged, nothing is committed again, and the
finalizer is released once the pass's push has confirmed the remote is
up to date.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.adapters.git import RecordedStep
from gitflagger.decide import Decision, Routes
from gitflagger.engine.context import Context
from gitflagger.engine.ports import Obj
from gitflagger.errors import ValidationError
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import Phase, State

NO_REVISION = "none"
"""The ``Revision:`` trailer of a removal for a Canary that never recorded a rollout."""


def reverts(canary_obj: Mapping[str, Any]) -> bool:
    """``spec.revertOnDeletion`` is set (read leniently: an invalid Canary does not revert)."""
    return bool((canary_obj.get("spec") or {}).get("revertOnDeletion") is True)


def record_removal(ctx: Context, canary_obj: Obj) -> tuple[Canary, State, str | None] | str:
    """Record the removal of the Canary's directory: the Canary, its state after, the commit (``None``
    when the directory is already gone); or why nothing can be recorded (an invalid Canary)."""
    try:
        canary = parse_canary(canary_obj, default_provider=ctx.mesh_provider)
    except ValidationError as err:
        return f"invalid Canary, its directory is left as it is: {err}"
    state = State.from_status(canary_obj.get("status"))
    now = ctx.clock()
    after = state.evolve(phase=Phase.TERMINATED, step=state.step + 1, last_step_time=now)
    subject = f"{canary.key}: deleted, remove its directory so that what it generated is pruned"
    step = RecordedStep(
        canary=canary,
        decision=Decision(after, Routes(), subject=subject),
        manifests=(),
        revision=state.last_applied_spec or NO_REVISION,
        time=now,
        removes=True,
    )
    ctx.guard()
    result = ctx.recorder.record(step)
    if result.commit_id:
        ctx.telemetry.commits.labels(canary.namespace).inc()
    return canary, after, result.commit_id
