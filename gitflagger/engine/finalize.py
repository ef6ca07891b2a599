"""Canary deletion: ``revertOnDeletion`` with a finalizer, as Flagger does it.

Without ``revertOnDeletion`` deleting a Canary simply garbage-collects what it
generated (every generated object names the Canary as its owner) and leaves
the target scaled to zero, Flagger's behaviour.

With it, gitflagger holds a finalizer (Flagger's name, ``finalizer.flagger.app``,
so a Canary moved over from Flagger keeps working) and on deletion first
gives the workload back to the target: scale the target up, wait until it is
ready, apply what the Canary's router restores (:meth:`Router.finalize`:
nothing for Istio and Gateway API, whose objects are all owned by the Canary),
and only then let go. The generated primary, Services and routes are then
garbage-collected, and traffic reaches the target's own pods again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.adapters.kube.health import deployment_health
from gitflagger.engine.observe import DEPLOYMENT, HPA
from gitflagger.engine.ports import ClusterPort, Obj
from gitflagger.errors import ValidationError
from gitflagger.model.canary import DEFAULT_PROVIDER
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import Phase, State
from gitflagger.render import Manifest
from gitflagger.render.routers import router_for

FINALIZER = "finalizer.flagger.app"


def wants_finalizer(canary_obj: Mapping[str, Any]) -> bool:
    """``spec.revertOnDeletion`` is set (read leniently: an invalid Canary gets no finalizer)."""
    return bool((canary_obj.get("spec") or {}).get("revertOnDeletion") is True)


def has_finalizer(canary_obj: Mapping[str, Any]) -> bool:
    return FINALIZER in ((canary_obj.get("metadata") or {}).get("finalizers") or ())


def deleting(canary_obj: Mapping[str, Any]) -> bool:
    return bool((canary_obj.get("metadata") or {}).get("deletionTimestamp"))


def sync_finalizer(cluster: ClusterPort, canary_obj: Obj) -> Obj:
    """Add or remove our finalizer to match ``revertOnDeletion``; return the Canary as it is now."""
    if deleting(canary_obj):
        return canary_obj
    if wants_finalizer(canary_obj) and not has_finalizer(canary_obj):
        return cluster.add_finalizer(canary_obj, FINALIZER)
    if not wants_finalizer(canary_obj) and has_finalizer(canary_obj):
        return cluster.remove_finalizer(canary_obj, FINALIZER)
    return canary_obj


def finalize(
    cluster: ClusterPort, canary_obj: Obj, *, default_provider: str = DEFAULT_PROVIDER
) -> tuple[bool, str]:
    """Revert a Canary being deleted; ``(done, what happened)``. Not done means: call again soon.

    ``default_provider`` is ``--mesh-provider``: the router of a Canary that names none.
    """
    if not has_finalizer(canary_obj):
        return True, "no finalizer"
    try:
        canary = parse_canary(canary_obj, default_provider=default_provider)
        router = router_for(canary.spec.provider)
    except ValidationError:
        cluster.remove_finalizer(canary_obj, FINALIZER)
        return True, "invalid Canary: nothing to revert"
    ns = canary.namespace
    target = cluster.get(*DEPLOYMENT, ns, canary.target_name)
    if target is None:
        cluster.remove_finalizer(canary_obj, FINALIZER)
        return True, "target gone: nothing to revert"
    replicas = _replicas(cluster, canary_obj, canary.primary_name, canary.spec.autoscaler_ref)
    state = State.from_status(canary_obj.get("status"))
    if state.phase is not Phase.TERMINATING:
        cluster.patch_canary_status(canary_obj, state.evolve(phase=Phase.TERMINATING).to_status())
        cluster.emit_event(canary_obj, f"Terminating {canary.key}: scaling {canary.target_name} back up")
    if (target.get("spec") or {}).get("replicas") != replicas:
        cluster.scale(ns, canary.target_name, replicas)
        return False, f"scaled {canary.target_name} to {replicas}"
    health = deployment_health(target)
    if not health.ready:
        return False, health.message or "waiting for the target"
    restored = router.finalize(canary)
    if restored:
        cluster.apply([Manifest(obj) for obj in restored])
    cluster.patch_canary_status(canary_obj, state.evolve(phase=Phase.TERMINATED).to_status())
    cluster.emit_event(canary_obj, f"Terminated {canary.key}: workload reverted to {canary.target_name}")
    cluster.remove_finalizer(canary_obj, FINALIZER)
    return True, f"reverted to {canary.target_name}"


def _replicas(cluster: ClusterPort, canary_obj: Obj, primary_name: str, autoscaler: Any) -> int:
    """The primary's replicas (it served the traffic), else the HPA's minimum, else 1."""
    ns = str((canary_obj.get("metadata") or {}).get("namespace", ""))
    primary = cluster.get(*DEPLOYMENT, ns, primary_name)
    replicas = ((primary or {}).get("spec") or {}).get("replicas")
    if isinstance(replicas, int) and replicas > 0:
        return replicas
    if autoscaler is not None:
        hpa = cluster.get(*HPA, ns, autoscaler.name)
        minimum = ((hpa or {}).get("spec") or {}).get("minReplicas")
        if isinstance(minimum, int) and minimum > 0:
            return minimum
    return 1
