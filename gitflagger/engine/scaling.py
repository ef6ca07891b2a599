"""Scaling the canary (the target itself) up for a rollout and down between rollouts, per kind.

The target is the user's object and never part of the config repo, so these
are the only writes gitflagger makes to it, each touching one field, as Flagger
makes them (``ScaleToZero``/``ScaleFromZero`` and the scaler reconcilers'
``PauseTargetScaler``/``ResumeTargetScaler``):

* a Deployment: its ``scale`` subresource, to 0 or to :func:`scale_up_replicas`;
* a DaemonSet, which has no replica count: the ``flagger.app/scale-to-zero``
  node selector is added to its pod template, so its pods leave every node,
  and removed again (:mod:`gitflagger.render.daemonset`);
* with a KEDA ScaledObject as the autoscaler: before the target goes to zero,
  its ScaledObject is paused at zero replicas, so KEDA does not scale the idle
  canary back up; before it comes back, the pause is lifted
  (:mod:`gitflagger.render.keda`).

Each write is skipped when the live object already says what it would set,
so a repeated step sends nothing.
"""

from __future__ import annotations

from gitflagger.engine.observe import APPS_V1, Live
from gitflagger.engine.ports import ClusterPort
from gitflagger.model.canary import DAEMONSET, Canary
from gitflagger.render import daemonset, keda


def scale_canary_down(cluster: ClusterPort, canary: Canary, live: Live) -> None:
    """Take the canary's pods away: pause its ScaledObject, then scale the target to zero."""
    _pause_scaled_object(cluster, canary, live, paused=True)
    if canary.spec.target_ref.kind == DAEMONSET:
        if not daemonset.scaled_to_zero(live.target):
            _patch_target(cluster, canary, daemonset.scale_patch(to_zero=True))
        return
    cluster.scale(canary.namespace, canary.target_name, 0)


def scale_canary_up(cluster: ClusterPort, canary: Canary, live: Live) -> None:
    """Bring the canary's pods back for an analysis: lift the ScaledObject's pause, then scale up."""
    _pause_scaled_object(cluster, canary, live, paused=False)
    if canary.spec.target_ref.kind == DAEMONSET:
        if daemonset.scaled_to_zero(live.target):
            _patch_target(cluster, canary, daemonset.scale_patch(to_zero=False))
        return
    cluster.scale(canary.namespace, canary.target_name, scale_up_replicas(live))


def give_back(cluster: ClusterPort, canary: Canary, live: Live, replicas: int) -> None:
    """Finalization (``revertOnDeletion``): the target runs the workload again, as many replicas as the
    primary ran; its ScaledObject's pause is lifted first (Flagger's ``ResumeTargetScaler``)."""
    _pause_scaled_object(cluster, canary, live, paused=False)
    if canary.spec.target_ref.kind == DAEMONSET:
        if daemonset.scaled_to_zero(live.target):
            _patch_target(cluster, canary, daemonset.scale_patch(to_zero=False))
        return
    cluster.scale(canary.namespace, canary.target_name, replicas)


def given_back(canary: Canary, live: Live, replicas: int) -> bool:
    """The target already runs as :func:`give_back` would leave it."""
    if canary.spec.target_ref.kind == DAEMONSET:
        return not daemonset.scaled_to_zero(live.target)
    return bool((live.target.get("spec") or {}).get("replicas") == replicas)


def scale_up_replicas(live: Live) -> int:
    """Flagger's ``ScaleFromZero``: the autoscaler's minimum (an HPA's ``minReplicas``, a
    ScaledObject's ``minReplicaCount``), else the target's own count, else 1."""
    if live.hpa is not None:
        spec = live.hpa.get("spec") or {}
        minimum = spec.get("minReplicas", spec.get("minReplicaCount"))
        if isinstance(minimum, int) and minimum > 0:
            return minimum
    replicas = (live.target.get("spec") or {}).get("replicas")
    return replicas if isinstance(replicas, int) and replicas > 0 else 1


def _patch_target(cluster: ClusterPort, canary: Canary, body: dict[str, object]) -> None:
    kind = canary.spec.target_ref.kind
    cluster.patch(APPS_V1, kind, canary.namespace, canary.target_name, body)


def _pause_scaled_object(cluster: ClusterPort, canary: Canary, live: Live, *, paused: bool) -> None:
    ref = canary.spec.autoscaler_ref
    if ref is None or not ref.keda or live.hpa is None or keda.paused(live.hpa) == paused:
        return
    cluster.patch(ref.api_version, ref.kind, canary.namespace, ref.name, keda.pause_patch(paused=paused))
