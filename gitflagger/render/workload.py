"""The primary Deployment and its HPA, derived from the target the way Flagger derives them.

The primary is the copy of the target that serves production traffic between
rollouts (``pkg/canary/deployment_controller.go``):

* name ``<target>-primary``; selector and pod label ``<label>: <value>-primary``
  (see :mod:`gitflagger.render.names`), so the canary Service never selects it;
* ``progressDeadlineSeconds``, ``minReadySeconds``, ``revisionHistoryLimit``
  and ``strategy`` come from the target;
* the pod template is the target's at the last promotion, with config
  references rewritten to the ``-primary`` copies, and label selectors in
  ``topologySpreadConstraints`` and pod anti-affinity that name the target
  renamed too, or the primary's pods would spread against the canary's;
* with an HPA, ``spec.replicas`` is left out entirely: the HPA owns it, and
  server-side apply must never take it back (ARCHITECTURE.md, *Apply*).

Flagger stamps a random ``flagger-id`` annotation on each promotion to force a
rolling update. Random values cannot be rendered deterministically, so instead
the primary's pod template carries ``gitflagger.app/config-checksum``, a digest
of the tracked configs: pods restart exactly when their configuration changed.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitflagger.errors import PermanentError
from gitflagger.model.canary import ScalerReplicas
from gitflagger.render.configs import rewrite_config_refs
from gitflagger.render.names import (
    FLUX_MARKER,
    SELECTOR_LABELS,
    include_by_prefix,
    primary_labels,
    primary_name,
)


def json_copy(value: Any) -> Any:
    """:func:`copy.deepcopy` for JSON-shaped data, several times cheaper (copying was most of
    what rendering a primary cost): plain dicts and lists are rebuilt, immutable leaves shared,
    anything else (a ruamel mapping, a tuple) goes through :func:`copy.deepcopy` itself."""
    kind = type(value)
    if kind is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if kind is list:
        return [json_copy(v) for v in value]
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    return copy.deepcopy(value)

CONFIG_CHECKSUM_ANNOTATION = "gitflagger.app/config-checksum"
FLAGGER_ID_ANNOTATION = "flagger-id"

_COPIED_SPEC_FIELDS = ("progressDeadlineSeconds", "minReadySeconds", "revisionHistoryLimit", "strategy")
_HPA_SPEC_FIELDS = ("minReplicas", "maxReplicas", "metrics", "behavior")


def primary_template_from_target(
    target: Mapping[str, Any],
    *,
    label: str,
    label_value: str,
    tracked: Mapping[str, str],
    selector_labels: Sequence[str] = SELECTOR_LABELS,
) -> dict[str, Any]:
    """The primary's pod template for a promotion: the target's, rewritten for the primary.

    ``tracked`` is ``status.trackedConfigs`` (key → checksum) for the configs
    the primary will run; their references become ``<name>-primary`` and their
    digest becomes the :data:`CONFIG_CHECKSUM_ANNOTATION`.
    """
    source = (target.get("spec") or {}).get("template") or {}
    template = rewrite_config_refs(source, tracked)
    meta = dict(template.get("metadata") or {})
    meta.pop("creationTimestamp", None)
    meta["labels"] = primary_labels(meta.get("labels") or {}, label, label_value)
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if FLUX_MARKER not in k and k not in (FLAGGER_ID_ANNOTATION, CONFIG_CHECKSUM_ANNOTATION)
    }
    if tracked:
        annotations[CONFIG_CHECKSUM_ANNOTATION] = configs_digest(tracked)
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    template["metadata"] = meta
    target_name = str((target.get("metadata") or {}).get("name", ""))
    for selector in _pod_label_selectors(template.get("spec") or {}):
        _rename_in_selector(selector, target_name, selector_labels)
    return template


def kept_primary_template(template: Mapping[str, Any], *, label: str, label_value: str) -> dict[str, Any]:
    """The template the primary runs now, unchanged except that its selector label is made right.

    Setting the label is idempotent on a real primary template, and it
    guarantees the Deployment's selector matches its template (the apiserver
    rejects one that does not).
    """
    out: dict[str, Any] = json_copy(dict(template))
    meta = dict(out.get("metadata") or {})
    meta.pop("creationTimestamp", None)
    meta["labels"] = primary_labels(meta.get("labels") or {}, label, label_value)
    out["metadata"] = meta
    return out


def primary_replicas(
    target: Mapping[str, Any],
    *,
    autoscaled: bool,
    promoting: bool,
    current: int | None,
) -> int | None:
    """``spec.replicas`` for the primary, or ``None`` to leave the field out.

    * With an HPA: ``None``. The HPA scales the primary; never fight it.
    * Promoting or initialising: the target's replicas (the canary is scaled
      up then), else the primary's ``current`` replicas, else 1 (Flagger's
      ``createPrimaryDeployment`` uses 1 for a target scaled to 0).
    * Otherwise: keep ``current``. The target sits at 0 replicas between
      rollouts, so copying it then would shrink the primary.
    """
    if autoscaled:
        return None
    raw = (target.get("spec") or {}).get("replicas")
    from_target = raw if isinstance(raw, int) and raw > 0 else None
    from_current = current if current is not None and current > 0 else None
    order = (from_target, from_current) if promoting else (from_current, from_target)
    return next((r for r in order if r is not None), 1)


def primary_deployment(
    target: Mapping[str, Any],
    template: Mapping[str, Any],
    *,
    namespace: str,
    label: str,
    label_value: str,
    replicas: int | None,
    owner_references: Sequence[Mapping[str, Any]] = (),
    include_label_prefixes: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``<target>-primary`` Deployment running ``template``."""
    target_spec = target.get("spec") or {}
    meta = primary_metadata(
        target,
        namespace=namespace,
        label=label,
        label_value=label_value,
        owner_references=owner_references,
        include_label_prefixes=include_label_prefixes,
    )
    spec: dict[str, Any] = {}
    if replicas is not None:
        spec["replicas"] = replicas
    for field in _COPIED_SPEC_FIELDS:
        if field in target_spec:
            spec[field] = json_copy(target_spec[field])
    spec["selector"] = {"matchLabels": {label: label_value}}
    spec["template"] = json_copy(dict(template))
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def primary_metadata(
    target: Mapping[str, Any],
    *,
    namespace: str,
    label: str,
    label_value: str,
    owner_references: Sequence[Mapping[str, Any]] = (),
    include_label_prefixes: Iterable[str] = (),
) -> dict[str, Any]:
    """The metadata of the target's ``-primary`` copy (Deployment or DaemonSet): its name, the
    target's labels and annotations that ``include_label_prefixes`` keeps, the selector label."""
    target_meta = target.get("metadata") or {}
    prefixes = tuple(include_label_prefixes)
    meta: dict[str, Any] = {
        "name": primary_name(str(target_meta.get("name", ""))),
        "namespace": namespace,
        "labels": primary_labels(include_by_prefix(target_meta.get("labels"), prefixes), label, label_value),
    }
    annotations = include_by_prefix(target_meta.get("annotations"), prefixes)
    if annotations:
        meta["annotations"] = annotations
    if owner_references:
        meta["ownerReferences"] = [dict(o) for o in owner_references]
    return meta


def primary_hpa(
    hpa: Mapping[str, Any],
    *,
    namespace: str,
    primary_deployment_name: str,
    owner_references: Sequence[Mapping[str, Any]] = (),
    include_label_prefixes: Iterable[str] = (),
    bounds: ScalerReplicas | None = None,
) -> dict[str, Any]:
    """The ``<hpa>-primary`` HorizontalPodAutoscaler (autoscaling/v2) scaling the primary.

    Bounds, metrics and behavior are the target HPA's, except the bounds
    ``autoscalerRef.primaryScalerReplicas`` sets (``bounds``: each of
    ``minReplicas``/``maxReplicas`` given replaces the target's, as in
    Flagger); ``scaleTargetRef``
    keeps its apiVersion and kind and points at the primary. An
    ``autoscaling/v2beta2`` HPA has the same spec shape and converts as is;
    ``v2beta1`` does not and is refused.
    """
    api_version = str(hpa.get("apiVersion", "autoscaling/v2"))
    meta_in = hpa.get("metadata") or {}
    if api_version == "autoscaling/v2beta1":
        raise PermanentError(
            f"HorizontalPodAutoscaler {meta_in.get('name')}.{meta_in.get('namespace')} uses "
            "autoscaling/v2beta1, which Kubernetes no longer serves; convert it to autoscaling/v2"
        )
    spec_in = hpa.get("spec") or {}
    ref_in = spec_in.get("scaleTargetRef") or {}
    prefixes = tuple(include_label_prefixes)
    meta: dict[str, Any] = {
        "name": primary_name(str(meta_in.get("name", ""))),
        "namespace": namespace,
    }
    for field in ("labels", "annotations"):
        values = include_by_prefix(meta_in.get(field), prefixes)
        if values:
            meta[field] = values
    if owner_references:
        meta["ownerReferences"] = [dict(o) for o in owner_references]
    spec: dict[str, Any] = {
        "scaleTargetRef": {
            "apiVersion": ref_in.get("apiVersion", "apps/v1"),
            "kind": ref_in.get("kind", "Deployment"),
            "name": primary_deployment_name,
        }
    }
    for field in _HPA_SPEC_FIELDS:
        if field in spec_in:
            spec[field] = json_copy(spec_in[field])
    if bounds is not None and bounds.min_replicas is not None:
        spec["minReplicas"] = bounds.min_replicas
    if bounds is not None and bounds.max_replicas is not None:
        spec["maxReplicas"] = bounds.max_replicas
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": spec}


def configs_digest(tracked: Mapping[str, str]) -> str:
    """One short digest of all tracked config checksums: changes when any config changes."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(tracked.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pod_label_selectors(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The label selectors in a pod spec that may name the target's own pods."""
    found: list[dict[str, Any]] = []
    for constraint in pod_spec.get("topologySpreadConstraints") or ():
        if isinstance(constraint, dict) and isinstance(constraint.get("labelSelector"), dict):
            found.append(constraint["labelSelector"])
    anti = (pod_spec.get("affinity") or {}).get("podAntiAffinity") or {}
    for term in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or ():
        selector = ((term or {}).get("podAffinityTerm") or {}).get("labelSelector")
        if isinstance(selector, dict):
            found.append(selector)
    for term in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or ():
        selector = (term or {}).get("labelSelector")
        if isinstance(selector, dict):
            found.append(selector)
    return found


def _rename_in_selector(selector: dict[str, Any], target_name: str, selector_labels: Sequence[str]) -> None:
    """Point selector-label terms equal to the target's name at ``<name>-primary`` (in place).

    Flagger compares with the Deployment's *name*, not the label value; so do we.
    """
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, dict):
        for key in selector_labels:
            if match_labels.get(key) == target_name:
                match_labels[key] = primary_name(target_name)
    for expression in selector.get("matchExpressions") or ():
        if isinstance(expression, dict) and expression.get("key") in selector_labels:
            values = expression.get("values") or []
            expression["values"] = [primary_name(v) if v == target_name else v for v in values]
