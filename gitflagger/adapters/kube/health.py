"""Reading live objects the way Flagger reads them. Pure: dicts in, values out.

* :func:`deployment_health` is Flagger's ``isDeploymentReady``
  (``pkg/canary/deployment_ready.go``) as a :class:`WorkloadHealth`, with the
  same checks in the same order and the same messages.
* :func:`daemonset_health` is its ``isDaemonSetReady``
  (``pkg/canary/daemonset_ready.go``), the same way.

Reading route weights back is the router's job
(:meth:`gitflagger.render.routers.base.Router.weights`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitflagger.decide.observation import WorkloadHealth
from gitflagger.model.status import parse_time

__all__ = ["daemonset_health", "deployment_health", "workload_health"]


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in status.get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def deployment_health(deployment: Mapping[str, Any] | None, ready_threshold: int = 100) -> WorkloadHealth:
    """How ready ``deployment`` is, by Flagger's rules; ``None`` means it does not exist.

    In order, the first that applies wins:

    1. ``status.observedGeneration < metadata.generation``: the controller has
       not seen the latest spec yet, so nothing in ``status`` can be trusted.
    2. The ``Progressing`` condition's reason is ``ProgressDeadlineExceeded``:
       ``deadline_exceeded`` (Flagger rolls back at once).
    3. Fewer updated replicas than ``spec.replicas``; then old replicas still
       running; then fewer available replicas than ``readyThreshold`` percent
       of the updated ones (rounded down, like Flagger's ``int32`` cast).

    ``unavailable_since`` is the time the ``Available`` condition turned False
    with reason ``MinimumReplicasUnavailable`` (set whenever it is, even when the
    workload is ready otherwise): Flagger measures ``progressDeadlineSeconds``
    from it. It is read only when a ``Progressing`` condition exists, as in
    Flagger. The deployment controller writes both condition timestamps at
    the same transition, so ``lastTransitionTime`` and Flagger's
    ``lastUpdateTime`` agree; the latter is the fallback.

    >>> deployment_health({"metadata": {"name": "podinfo", "generation": 2},
    ...     "spec": {"replicas": 2}, "status": {"observedGeneration": 2,
    ...     "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}}).message
    'waiting for rollout to finish: 1 of 2 (readyThreshold 100%) updated replicas are available'
    """
    if deployment is None:
        return WorkloadHealth(exists=False, ready=False, message="deployment not found")
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        return WorkloadHealth(
            ready=False,
            message="waiting for rollout to finish: "
            "observed deployment generation less than desired generation",
        )

    progress = _condition(status, "Progressing")
    since: datetime | None = None
    if progress is not None:
        available = _condition(status, "Available")
        if (
            available is not None
            and available.get("status") == "False"
            and available.get("reason") == "MinimumReplicasUnavailable"
        ):
            since = parse_time(available.get("lastTransitionTime")) or parse_time(
                available.get("lastUpdateTime")
            )

    updated = _int(status.get("updatedReplicas"))
    threshold_updated = updated * ready_threshold // 100
    desired = spec.get("replicas")
    if progress is not None and progress.get("reason") == "ProgressDeadlineExceeded":
        name = meta.get("name", "")
        return WorkloadHealth(
            ready=False,
            message=f'deployment "{name}" exceeded its progress deadline',
            deadline_exceeded=True,
            unavailable_since=since,
        )
    if isinstance(desired, int) and updated < desired:
        message = f"waiting for rollout to finish: {updated} out of {desired} new replicas have been updated"
    elif _int(status.get("replicas")) > updated:
        pending = _int(status.get("replicas")) - updated
        message = f"waiting for rollout to finish: {pending} old replicas are pending termination"
    elif _int(status.get("availableReplicas")) < threshold_updated:
        message = (
            f"waiting for rollout to finish: {_int(status.get('availableReplicas'))} of {threshold_updated} "
            f"(readyThreshold {ready_threshold}%) updated replicas are available"
        )
    else:
        return WorkloadHealth(ready=True, unavailable_since=since)
    return WorkloadHealth(ready=False, message=message, unavailable_since=since)


def daemonset_health(daemonset: Mapping[str, Any] | None, ready_threshold: int = 100) -> WorkloadHealth:
    """How ready ``daemonset`` is, by Flagger's rules; ``None`` means it does not exist.

    1. ``status.observedGeneration < metadata.generation``: not seen yet.
    2. Fewer ``updatedNumberScheduled`` than ``desiredNumberScheduled`` pods:
       the rolling update is not done.
    3. Fewer ``numberAvailable`` than ``readyThreshold`` percent of
       ``desiredNumberScheduled`` (rounded down, like Flagger's ``int32`` cast).

    A DaemonSet has no progress-deadline condition, so ``unavailable_since`` is
    never set: the decision core measures ``progressDeadlineSeconds`` from the
    Canary's last phase change, which is what Flagger does for a DaemonSet. A
    DaemonSet scheduled on no node (scaled to zero) is ready.

    >>> daemonset_health({"metadata": {"generation": 3}, "status": {"observedGeneration": 3,
    ...     "desiredNumberScheduled": 2, "updatedNumberScheduled": 1, "numberAvailable": 2}}).message
    'waiting for rollout to finish: 1 out of 2 new pods have been updated'
    """
    if daemonset is None:
        return WorkloadHealth(exists=False, ready=False, message="daemonset not found")
    meta = daemonset.get("metadata") or {}
    status = daemonset.get("status") or {}
    if _int(meta.get("generation")) > _int(status.get("observedGeneration")):
        return WorkloadHealth(
            ready=False,
            message="waiting for rollout to finish: "
            "observed daemonset generation less than desired generation",
        )
    desired = _int(status.get("desiredNumberScheduled"))
    updated = _int(status.get("updatedNumberScheduled"))
    available = _int(status.get("numberAvailable"))
    threshold_desired = desired * ready_threshold // 100
    if updated < desired:
        message = f"waiting for rollout to finish: {updated} out of {desired} new pods have been updated"
    elif available < threshold_desired:
        message = (
            f"waiting for rollout to finish: {available} of {threshold_desired} "
            f"(readyThreshold {ready_threshold}%) updated pods are available"
        )
    else:
        return WorkloadHealth(ready=True)
    return WorkloadHealth(ready=False, message=message)


def workload_health(kind: str, obj: Mapping[str, Any] | None, ready_threshold: int = 100) -> WorkloadHealth:
    """:func:`daemonset_health` for a ``DaemonSet``, :func:`deployment_health` for anything else."""
    if kind == "DaemonSet":
        return daemonset_health(obj, ready_threshold)
    return deployment_health(obj, ready_threshold)
