"""``--apply-mode git-only``: may the next step go, and what to say while it may not.

In git-only mode a step is only a commit; Flux (or Argo CD) applies it. The
next step waits until the live objects run what the last step committed: the
primary's pod template and the router's weights (:func:`lag`). With Flux
(:mod:`.flux`) three more things are watched, each said once on the Canary as
a Warning event, not once per pass (``CanaryMemory.gitops``):

* Flux's own verdict: a Kustomization whose ``Ready`` condition is ``False``
  (a failed build, apply or health check) holds the step back, with Flux's
  message;
* drift: live weights that differ from the commit while a field manager other
  than Flux and gitflagger holds fields of the routing object (a ``kubectl
  edit``): an Event naming that manager and ``gitflagger_drift_total``. Flux is
  asked to reconcile at once, and puts the committed weights back;
* the target's ``spec.replicas`` applied by Flux: the target's manifest in git
  sets it, so Flux and gitflagger's scaling (its scale subresource) would take
  turns. The Warning says to remove it, as Flagger asks of HPA users.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.decide import current_routes
from gitflagger.engine.apply import weights_mismatch
from gitflagger.engine.context import CanaryMemory, Context
from gitflagger.engine.flux import GITOPS_MANAGER, Carrier, other_managers, sets_replicas
from gitflagger.engine.observe import DEPLOYMENT, Live
from gitflagger.errors import GitflaggerError
from gitflagger.model.canary import Canary
from gitflagger.model.status import State
from gitflagger.render.routers import router_for

FIELD_MANAGER = "gitflagger"


def wait_reason(
    ctx: Context, memory: CanaryMemory, canary_obj: Mapping[str, Any], canary: Canary, state: State,
    live: Live, log: Any,
) -> str:
    """Why the next step must wait for the GitOps tool; empty when it may go."""
    said = memory.gitops.setdefault(canary.ref, {})
    carrier = ctx.flux.carrier(canary.namespace, canary.name) if ctx.flux is not None else None
    if carrier is not None:
        _say(ctx, said, canary_obj, "carrier", carrier.problem, "FluxNotFound", log)
        _check_replicas(ctx, said, canary_obj, canary, live, log)
        failure = ctx.flux.failure(carrier) if ctx.flux is not None else ""
        _say(ctx, said, canary_obj, "failure", failure, "FluxApplyFailed", log)
        if failure:
            return failure
    behind = lag(ctx, canary, state, live)
    if behind and carrier is not None and live.route is not None:
        _check_drift(ctx, said, canary_obj, canary, carrier, behind, log)
    return behind


def lag(ctx: Context, canary: Canary, state: State, live: Live) -> str:
    """What the GitOps tool has not applied yet of the last step; empty when the cluster caught up.

    Checked: the primary exists, runs the committed pod template (every field
    the commit sets, so server defaults do not count as a difference), and the
    routing object (the router's :meth:`live_ref`) routes the committed weights.
    """
    kind = canary.spec.target_ref.kind.lower()  # the primary's: deployment or daemonset
    if live.primary is None:
        return f"{kind} {canary.primary_name} does not exist yet"
    committed = (
        ctx.intents.committed(canary.ref, f"{kind}-{canary.primary_name}.yaml") if ctx.intents else None
    )
    if committed is not None:
        want = (committed.get("spec") or {}).get("template")
        have = (live.primary.get("spec") or {}).get("template")
        if want is not None and not _subset(want, have):
            return f"{kind} {canary.primary_name} does not run the committed pod template yet"
    return weights_mismatch(live.route, canary, current_routes(canary.spec.analysis, state)) or ""


def _check_replicas(
    ctx: Context, said: dict[str, str], canary_obj: Mapping[str, Any], canary: Canary, live: Live, log: Any
) -> None:
    """Once per generation of the target: does Flux apply its ``spec.replicas``?"""
    assert ctx.flux is not None
    generation = str((live.target.get("metadata") or {}).get("generation", ""))
    if said.get("replicas-checked") == generation:
        return
    entries = ctx.flux.cluster.managed_fields(*DEPLOYMENT, canary.namespace, canary.target_name)
    said["replicas-checked"] = generation
    problem = ""
    if sets_replicas(entries):
        problem = (
            f"deployment {canary.target_name}: its manifest in git sets spec.replicas, which Flux "
            f"({GITOPS_MANAGER}) applies at every reconcile, undoing gitflagger's scaling of the target; "
            "remove spec.replicas from it (as Flagger asks when an HPA scales the target)"
        )
    _say(ctx, said, canary_obj, "replicas", problem, "ReplicasInGit", log)


def _check_drift(
    ctx: Context, said: dict[str, str], canary_obj: Mapping[str, Any], canary: Canary, carrier: Carrier,
    behind: str, log: Any,
) -> None:
    """Weights that differ from the commit because someone else wrote the route: drift, not lag."""
    assert ctx.flux is not None
    ref = router_for(canary.spec.provider).live_ref(canary)
    if not behind.startswith("live weights"):
        return
    entries = ctx.flux.cluster.managed_fields(ref.api_version, ref.kind, canary.namespace, ref.name)
    others = other_managers(entries, GITOPS_MANAGER, FIELD_MANAGER)
    if not others:
        return
    newest = others[0]
    manager, when = str(newest.get("manager")), str(newest.get("time") or "")
    if said.get("drift") == f"{manager}@{when}":
        return
    said["drift"] = f"{manager}@{when}"
    ctx.telemetry.drift.labels(canary.name, canary.namespace, ref.kind).inc()
    message = (
        f"Drift detected on {ref.kind} {ref.name}.{canary.namespace}: {behind}; changed by field manager "
        f"{manager} ({newest.get('operation')} at {when or 'an unknown time'}), not by Flux; "
        "Flux puts the committed weights back at its next reconcile"
    )
    _emit(ctx, canary_obj, message, "Drift", log)
    ctx.flux.want_nudge(carrier)


def _say(
    ctx: Context, said: dict[str, str], canary_obj: Mapping[str, Any], topic: str, message: str, reason: str,
    log: Any,
) -> None:
    """A Warning event for ``message`` unless it was the last one said on ``topic``; empty clears it."""
    if said.get(topic, "") == message:
        return
    said[topic] = message
    if message:
        _emit(ctx, canary_obj, message, reason, log)


def _emit(ctx: Context, canary_obj: Mapping[str, Any], message: str, reason: str, log: Any) -> None:
    log.warning("gitops", reason=reason, detail=message)
    try:
        ctx.cluster.emit_event(canary_obj, message, warning=True, reason=reason)
    except GitflaggerError as err:
        log.warning("kubernetes event failed", error=str(err))


def _subset(want: Any, have: Any) -> bool:
    """Every field of ``want`` is in ``have`` with the same value (extra fields in ``have`` are defaults)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(k in have and _subset(v, have[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_subset, want, have))
    return bool(want == have)
