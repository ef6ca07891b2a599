"""The apply stage: server-side apply what a step rendered, carry out its actions, verify the routes.

Order matters and is Flagger's: the objects first (in render's dependency
order: configs, Services, the primary, its HPA or ScaledObject, then the
router's objects), so a promotion's new primary template is in place before
anything is scaled; then the actions (scale the canary up or down, per target
kind: :mod:`gitflagger.engine.scaling`).

Verification after acting (Argo Rollouts' ``VerifyWeight``): the weights of
the router's live object (:meth:`~gitflagger.render.routers.base.Router.live_ref`:
the VirtualService, the HTTPRoute) are compared with the decision's. The live
object is the one the apply answered with (or, when the apply was skipped
because nothing could change, the live object it compared), so verifying
costs no request; only when it was not among the applied objects is it read.
A mismatch means something else owns the routes (a person, another
controller, a mutating webhook); it is reported as drift, not silently trusted.

Drift on other objects: an object whose rendered manifest did not change since
the last step, yet which the apply had to change, was edited behind our back.
The apply has already put it back; it is reported the same way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass

from gitflagger.decide import Action, Decision, Routes
from gitflagger.engine.observe import Live
from gitflagger.engine.ports import AppliedObject, ClusterPort
from gitflagger.engine.scaling import scale_canary_down, scale_canary_up
from gitflagger.model.canary import Canary
from gitflagger.render import Manifest
from gitflagger.render.names import canary_service_name, primary_name
from gitflagger.render.routers import router_for


@dataclass(frozen=True)
class Drift:
    """One live object found differing from what gitflagger last applied."""

    kind: str
    name: str
    detail: str


@dataclass(frozen=True)
class Applied:
    """What the apply stage did: objects it changed, drift it found, and how long it took."""

    changed: tuple[str, ...] = ()
    drift: tuple[Drift, ...] = ()
    seconds: float = 0.0


def apply_step(
    cluster: ClusterPort,
    canary: Canary,
    live: Live,
    decision: Decision,
    manifests: Sequence[Manifest],
    applied_before: MutableMapping[str, str],
    *,
    apply_objects: bool = True,
) -> Applied:
    """Apply ``manifests``, run the decision's scale actions and verify the routes.

    ``applied_before`` maps ``Kind/name`` to the checksum applied at this
    Canary's previous step; it is updated in place (the controller keeps one
    per Canary, in memory: after a restart the first step reports no drift).
    Without ``apply_objects`` (``--apply-mode git-only``) the objects are left
    to the GitOps tool, except the primary's Secret copies: Secrets never enter
    git, so nothing else could create them. The scale actions still run
    (:mod:`.scaling`), since the target is the user's and never part of the
    config repo.
    """
    started = time.monotonic()
    direct = [m for m in manifests if apply_objects or m.kind == "Secret"]
    results = cluster.apply(direct) if direct else ()
    drift: list[Drift] = []
    changed: list[str] = []
    checksums = {f"{m.kind}/{m.name}": m.checksum for m in manifests}
    for result in results:
        key = f"{result.kind}/{result.name}"
        if not result.changed:
            continue
        changed.append(key)
        if result.live_before is not None and applied_before.get(key) == checksums.get(key):
            drift.append(Drift(result.kind, result.name, "edited outside gitflagger; re-applied"))
    applied_before.clear()
    applied_before.update(checksums)
    for action in decision.actions:
        if action is Action.SCALE_CANARY_UP:
            scale_canary_up(cluster, canary, live)
        elif action is Action.SCALE_CANARY_DOWN:
            scale_canary_down(cluster, canary, live)
    mismatch = verify_routes(cluster, canary, decision.routes, results) if apply_objects else None
    if mismatch is not None:
        ref = router_for(canary.spec.provider).live_ref(canary)
        drift.append(Drift(ref.kind, ref.name, mismatch))
    return Applied(tuple(changed), tuple(drift), time.monotonic() - started)


def verify_routes(
    cluster: ClusterPort, canary: Canary, routes: Routes, results: Sequence[AppliedObject] = ()
) -> str | None:
    """The live routing object's weights against ``routes``: a description of the mismatch, or ``None``.

    The live object is the apply's answer for it in ``results`` when there is
    one; otherwise it is read.
    """
    ref = router_for(canary.spec.provider).live_ref(canary)
    live: Mapping[str, object] | None = None
    for result in results:
        if result.kind == ref.kind and result.name == ref.name:
            live = result.desired_after
            break
    else:
        live = cluster.get(ref.api_version, ref.kind, canary.namespace, ref.name)
    return weights_mismatch(live, canary, routes)


def weights_mismatch(live: Mapping[str, object] | None, canary: Canary, routes: Routes) -> str | None:
    """Compare the live routing object's weights with ``routes``; ``None`` when they agree."""
    router = router_for(canary.spec.provider)
    ref = router.live_ref(canary)
    if live is None:
        return f"{ref.kind} not found after apply"
    apex = canary.service_name
    found = router.weights(dict(live))
    want = (routes.primary, routes.canary)
    if found is None:
        return f"live routes have no {primary_name(apex)}/{canary_service_name(apex)} destinations"
    if tuple(found) != want:
        return f"live weights primary={found[0]} canary={found[1]}, committed {want[0]}/{want[1]}"
    return None
