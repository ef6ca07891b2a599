"""Reading live objects the way Flagger reads them. Pure: dicts in, values out.

* :func:`deployment_health` is Flagger's ``isDeploymentReady``
  (``pkg/canary/deployment_ready.go``) as a :class:`WorkloadHealth`, with the
  same checks in the same order and the same messages.
* :func:`route_weights` is Flagger's Istio ``GetRoutes``: the weights the live
  VirtualService routes to the primary and the canary, read back after an
  apply to detect drift (ARCHITECTURE.md, *Apply*).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitflagger.decide.observation import WorkloadHealth
from gitflagger.model.status import parse_time

__all__ = ["deployment_health", "route_weights"]


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


def _weight(route: Mapping[str, Any], destinations: int) -> int:
    """A destination's weight; Istio gives a lone destination without one all the traffic."""
    weight = route.get("weight")
    if isinstance(weight, int) and not isinstance(weight, bool):
        return weight
    return 100 if destinations == 1 else 0


def route_weights(
    virtual_service: Mapping[str, Any] | None, primary_host: str, canary_host: str
) -> tuple[int, int] | None:
    """``(primary, canary)`` weights of the live VirtualService, or ``None`` when it has no such routes.

    Like Flagger's ``GetRoutes``, the HTTP route read is the *last* one that
    has a destination for the canary host. With A/B testing that is the matched
    route (the default route after it goes to the primary alone), so the
    weights are the ones the decision set for the matched requests. Hosts are
    compared exactly; pass the names the rendered VirtualService uses
    (``podinfo-primary``, ``podinfo-canary``).

    >>> vs = {"spec": {"http": [{"route": [
    ...     {"destination": {"host": "podinfo-primary"}, "weight": 90},
    ...     {"destination": {"host": "podinfo-canary"}, "weight": 10}]}]}}
    >>> route_weights(vs, "podinfo-primary", "podinfo-canary")
    (90, 10)
    """
    if virtual_service is None:
        return None
    chosen: list[Mapping[str, Any]] | None = None
    for http in (virtual_service.get("spec") or {}).get("http") or ():
        if not isinstance(http, Mapping):
            continue
        routes = [r for r in http.get("route") or () if isinstance(r, Mapping)]
        if any((r.get("destination") or {}).get("host") == canary_host for r in routes):
            chosen = routes
    if chosen is None:
        return None
    primary = canary = 0
    for route in chosen:
        host = (route.get("destination") or {}).get("host")
        if host == primary_host:
            primary = _weight(route, len(chosen))
        elif host == canary_host:
            canary = _weight(route, len(chosen))
    return primary, canary
