"""The pure rules of server-side apply: order, what counts as drift, what gitflagger may take.

:class:`~gitflagger.adapters.kube.apply.Applier` does the requests; these
functions decide, from dicts alone:

* :func:`in_apply_order`: dependency order (ARCHITECTURE.md, *Apply*).
* :func:`comparable`: an object minus what the server changes on every write,
  so "dry-run result equals live" means "nothing to apply".
* ``spec.replicas`` of a Deployment is never taken when an HPA targets it
  (:func:`hpa_targets`) or another manager owns it through its own apply, a
  GitOps tool (:func:`replicas_applied_elsewhere`). When gitflagger itself
  applied the field before (an HPA was added later), merely leaving it out
  would make the API server reset it to 1, so it is first handed over to
  :func:`handover_manager` at its live value (:func:`replicas_applied_by`);
  the HPA then takes it over with its first write.
* :func:`owned_by`: conflicts are forced only on gitflagger's objects: ones
  that do not exist yet, that gitflagger applied before, or that a Canary
  controls (objects Flagger created, so a migration takes them over).
* :func:`redacted`: Secret values never leave as plain text.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitflagger.render import Manifest
from gitflagger.render.routers import route_kinds
from gitflagger.render.yaml import strip_noise

__all__ = [
    "APPLY_ORDER",
    "as_object",
    "comparable",
    "drop_replicas",
    "handover_manager",
    "hpa_targets",
    "in_apply_order",
    "namespaces_needing_hpa_lookup",
    "owned_by",
    "redacted",
    "replicas_applied_by",
    "replicas_applied_elsewhere",
]

APPLY_ORDER: dict[str, int] = {
    "Namespace": 0,
    "ConfigMap": 1,
    "Secret": 1,
    "Service": 2,
    "Deployment": 3,
    "DaemonSet": 3,
    "HorizontalPodAutoscaler": 4,
    "ScaledObject": 4,
    **{k.kind: k.rank for k in route_kinds()},
}
"""Rank of each kind; unlisted kinds go last. The routing kinds and their ranks are the routers'
(:attr:`~gitflagger.render.routers.base.Router.kinds`): a route must never point at a missing Service."""


def as_object(manifest: Manifest | Mapping[str, Any]) -> dict[str, Any]:
    """The object to send: a deep copy without server noise (no resourceVersion precondition, no status)."""
    obj = manifest.obj if isinstance(manifest, Manifest) else manifest
    return strip_noise(obj)


def in_apply_order(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stable sort by :data:`APPLY_ORDER`: same-kind objects keep the caller's order."""
    return sorted(objects, key=lambda o: APPLY_ORDER.get(str(o.get("kind")), len(APPLY_ORDER)))


def comparable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` as compared for drift: :func:`strip_noise` (status, managedFields, resourceVersion, ...)."""
    return strip_noise(obj)


def hpa_targets(objects: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """``(namespace, deployment)`` pairs that the HorizontalPodAutoscalers among ``objects`` scale."""
    out: set[tuple[str, str]] = set()
    for obj in objects:
        if obj.get("kind") != "HorizontalPodAutoscaler":
            continue
        ref = (obj.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment" and ref.get("name"):
            out.add((str((obj.get("metadata") or {}).get("namespace", "")), str(ref["name"])))
    return out


def _owns_replicas(entry: Mapping[str, Any]) -> bool:
    fields = entry.get("fieldsV1") or {}
    return "f:replicas" in (fields.get("f:spec") or {})


def handover_manager(manager: str) -> str:
    """The field manager holding ``spec.replicas`` from when gitflagger lets go until the HPA writes it."""
    return f"{manager}-handover"


def _appliers_of_replicas(live: Mapping[str, Any] | None) -> set[str]:
    return {
        str(entry.get("manager"))
        for entry in (live or {}).get("metadata", {}).get("managedFields") or ()
        if entry.get("operation") == "Apply" and _owns_replicas(entry)
    }


def replicas_applied_by(live: Mapping[str, Any] | None, manager: str) -> bool:
    """``manager`` owns the live ``spec.replicas`` through its own server-side apply."""
    return manager in _appliers_of_replicas(live)


def replicas_applied_elsewhere(live: Mapping[str, Any] | None, manager: str) -> bool:
    """Another manager owns the live ``spec.replicas`` through server-side apply (a GitOps tool).

    Owners through ``Update`` (``kubectl scale``, the HPA controller's scale
    subresource) do not count: those changes are taken back at the next
    promotion, as Flagger does, unless an HPA targets the Deployment.
    gitflagger's own hand-over manager does not count either.
    """
    return bool(_appliers_of_replicas(live) - {manager, handover_manager(manager)})


def owned_by(live: Mapping[str, Any] | None, manager: str) -> bool:
    """Whether gitflagger may force conflicts on this object (see the module docstring).

    Any other object is applied without ``force``, and a conflict is an
    :class:`~gitflagger.adapters.kube.errors.ApplyConflict` for a human to resolve.
    """
    if live is None:
        return True
    meta = live.get("metadata") or {}
    if any(e.get("manager") == manager for e in meta.get("managedFields") or ()):
        return True
    return any(
        ref.get("controller")
        and ref.get("kind") == "Canary"
        and str(ref.get("apiVersion", "")).startswith("flagger.app/")
        for ref in meta.get("ownerReferences") or ()
    )


def drop_replicas(obj: dict[str, Any]) -> None:
    """Remove ``spec.replicas`` from a Deployment manifest (in place)."""
    spec = obj.get("spec")
    if isinstance(spec, dict):
        spec.pop("replicas", None)


def redacted(obj: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A copy of ``obj`` whose Secret ``data``/``stringData`` values are ``sha256:<hex>`` checksums.

    A diff still shows which keys changed, never what they hold.
    """
    if obj is None:
        return None
    out = copy.deepcopy(dict(obj))
    if out.get("kind") == "Secret":
        for key in ("data", "stringData"):
            values = out.get(key)
            if isinstance(values, dict):
                out[key] = {
                    k: "sha256:" + hashlib.sha256(str(v).encode()).hexdigest() for k, v in values.items()
                }
    return out


def namespaces_needing_hpa_lookup(
    objects: Sequence[Mapping[str, Any]], batch_targets: set[tuple[str, str]], autoscaled: set[str]
) -> set[str]:
    """Namespaces with a Deployment that still sets ``spec.replicas`` and no known HPA: ask the cluster."""
    out: set[str] = set()
    for obj in objects:
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if (
            obj.get("kind") == "Deployment"
            and "replicas" in (obj.get("spec") or {})
            and (ns, name) not in batch_targets
            and name not in autoscaled
        ):
            out.add(ns)
    return out
