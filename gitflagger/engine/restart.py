"""Before a started (or newly leading) controller steps: what is live, checked against the remote.

The shipped Deployment's cache is an ``emptyDir`` and each replica has its
own, so a process that starts, or a replica that takes the Lease over, knows
only what the remote holds. Since a step is applied only after the remote
holds its commit (:mod:`gitflagger.engine.controller`), a Canary's live routes
are those of its ``status.lastCommit`` or of the remote's newest step for it
(a step pushed but not yet applied or reported: the next pass decides it
again, finds its Step-Id and applies that very commit). Anything else means
the cluster ran weights the remote does not have: an older gitflagger that
pushed in the background and died, a remote rewound or restored from a backup.

Such a Canary is handled before any step of the pass: a log line and a
Warning event say what differs, then **the live state is recorded as a
commit** (the status the Canary has, its weights as its router's live
object, the VirtualService or the HTTPRoute, routes them now, one step number
further so its Step-Id is new), pushed, and named by ``status.lastCommit``;
stepping goes on from there.

Why record the live state rather than re-apply the remote's last one: the
config repo's promise is that every step the cluster ran is a commit. Putting
the remote's older weights back would move traffic without any analysis
deciding it, and would still leave the weights that did run unrecorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.adapters.git import RecordedStep
from gitflagger.decide import Decision, Routes
from gitflagger.engine.observe import first_look, read_live
from gitflagger.engine.ports import Obj
from gitflagger.engine.reconcile import Context
from gitflagger.engine.report import write_status
from gitflagger.engine.telemetry import logger
from gitflagger.errors import GitflaggerError
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import State
from gitflagger.render import render
from gitflagger.render.routers import router_for

REASON = "LiveStateNotOnRemote"


def unrecorded(ctx: Context, canary: Canary, status: Mapping[str, Any], live_weight: int | None) -> str:
    """Why the Canary's live state is not what the remote recorded; empty when it is."""
    last = str(status.get("lastCommit") or "")
    if not status.get("phase") or not last:
        return ""
    recorder = ctx.recorder
    named = recorder.published_step(last)
    if named is None:
        return f"status.lastCommit {last[:12]} is not on the config repo's remote"
    latest = recorder.latest_published_step(canary.namespace, canary.name)
    known = {named.canary_weight} | ({latest[1].canary_weight} if latest is not None else set())
    if live_weight is not None and live_weight not in known:
        newest = latest[1].canary_weight if latest is not None else "-"
        return (
            f"the live canary weight {live_weight} is not that of status.lastCommit {last[:12]} "
            f"({named.canary_weight}) nor of the remote's last step ({newest})"
        )
    return ""


def check_live_against_remote(ctx: Context, objs: list[Obj]) -> list[Obj]:
    """Record the live state of every Canary whose live weights the remote lacks; the patched Canaries."""
    updated: list[Obj] = []
    for obj in objs:
        meta = obj.get("metadata") or {}
        log = logger(canary=meta.get("name"), namespace=meta.get("namespace"))
        try:
            canary = parse_canary(obj, default_provider=ctx.mesh_provider)
            patched = _check_one(ctx, obj, canary, log)
        except GitflaggerError as err:  # an invalid or unreadable Canary: its own step reports it
            log.warning("checking the live state against the remote failed", error=str(err))
            continue
        if patched is not None:
            updated.append(patched)
    return updated


def _check_one(ctx: Context, obj: Obj, canary: Canary, log: Any) -> Obj | None:
    status = obj.get("status") or {}
    router = router_for(canary.spec.provider)
    ref = router.live_ref(canary)
    weights = router.weights(ctx.cluster.get(ref.api_version, ref.kind, canary.namespace, ref.name))
    why = unrecorded(ctx, canary, status, weights[1] if weights else None)
    if not why:
        return None
    state = State.from_status(status)
    primary, weight = weights if weights else (100 - state.canary_weight, state.canary_weight)
    state = state.evolve(canary_weight=weight, step=state.step + 1)
    message = f"{why}: recording the live state (canary weight {weight}) before stepping on"
    log.warning("live state not on the remote", detail=message)
    ctx.cluster.emit_event(obj, message, warning=True, reason=REASON)
    decision = Decision(
        state=state,
        routes=Routes(primary=primary, canary=weight),
        subject=f"{canary.name}.{canary.namespace}: recorded the live state after a restart ({why})",
        changed=True,
    )
    live = read_live(ctx.cluster, canary)
    seen = first_look(canary, live, ctx.clock(), None)
    manifests = render(
        canary,
        live.inputs(),
        decision,
        include_label_prefixes=ctx.labelling.include_label_prefixes,
        selector_labels=ctx.labelling.selector_labels,
    )
    step = RecordedStep(canary, decision, manifests, seen.revision, seen.now)
    ctx.guard()
    result = ctx.recorder.record(step)
    ctx.recorder.flush()  # pushed before the status names it
    commit = result.commit_id or result.existing
    if commit is None:
        return None
    ctx.guard()
    return write_status(ctx.cluster, obj, state, commit)
