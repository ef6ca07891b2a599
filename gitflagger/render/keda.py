"""A KEDA ScaledObject as the Canary's autoscaler: its ``-primary`` copy and the pause of the target's.

Flagger's ``pkg/canary/scaled_object_reconciler.go`` does three things with a
``keda.sh/v1alpha1`` ScaledObject named by ``spec.autoscalerRef``:

* it creates ``<scaledobject>-primary``, the target's spec pointed at the
  primary workload (``scaleTargetRef.name`` ``<target>-primary``, its kind,
  apiVersion and ``envSourceContainerName`` kept), and updates it at each
  promotion. An ``advanced.horizontalPodAutoscalerConfig.name`` gets
  ``-primary`` too, so the two HPAs KEDA makes do not collide;
* each trigger's ``metadata.query`` is rewritten for the primary: with
  ``autoscalerRef.primaryScalerQueries`` (trigger name → query), the named
  triggers get those queries; without it, every occurrence of the target's
  name, and of ``<target>-canary``, becomes ``<target>-primary``
  (:func:`primary_query`, Flagger's placeholder dance, done deterministically);
* between rollouts it pauses the target's ScaledObject with KEDA's
  ``autoscaling.keda.sh/paused-replicas: "0"`` annotation, so KEDA does not
  scale the idle canary back up, and removes it when a rollout scales the
  canary up (:func:`pause_patch`).

Stricter than Flagger: a ``primaryScalerQueries`` entry that names no trigger
is an error naming it (Flagger skips it without a word, and the primary then
scales on the target's query). Different from Flagger: the whole target spec
is copied (Flagger's typed copy drops the fields its Go struct lacks, such as
``initialCooldownPeriod`` or ``advanced.scalingModifiers``), and the primary's
labels and annotations follow ``--include-label-prefix`` as the primary HPA's
do; an empty ``advanced`` block Flagger adds is not rendered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.canary import KEDA_API_VERSION, SCALED_OBJECT, Canary, ScalerReplicas
from gitflagger.render.names import CANARY_SUFFIX, include_by_prefix, primary_name
from gitflagger.render.workload import json_copy

PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
"""KEDA's annotation: hold the scaled workload at this many replicas (Flagger writes ``"0"``)."""

_QUERIES_PATH = "spec.autoscalerRef.primaryScalerQueries"


def pause_patch(*, paused: bool) -> dict[str, Any]:
    """The JSON merge patch that pauses (at zero replicas) or resumes the target's ScaledObject.

    >>> pause_patch(paused=True)
    {'metadata': {'annotations': {'autoscaling.keda.sh/paused-replicas': '0'}}}
    """
    return {"metadata": {"annotations": {PAUSED_REPLICAS: "0" if paused else None}}}


def paused(scaled_object: Mapping[str, Any] | None) -> bool:
    """The ScaledObject carries Flagger's pause at zero replicas."""
    annotations = ((scaled_object or {}).get("metadata") or {}).get("annotations") or {}
    return annotations.get(PAUSED_REPLICAS) == "0"


def primary_query(query: str, target: str) -> str:
    """``query`` with ``<target>`` and ``<target>-canary`` both turned into ``<target>-primary``.

    Flagger swaps ``<target>-canary`` for a random placeholder first, so the
    second replacement cannot make ``podinfo-primary-canary``; a NUL character
    plays the placeholder here, so the same query always renders the same bytes.

    >>> primary_query('sum(rate(http_requests_total{app=~"podinfo|podinfo-canary"}[1m]))', "podinfo")
    'sum(rate(http_requests_total{app=~"podinfo-primary|podinfo-primary"}[1m]))'
    """
    primary = primary_name(target)
    hold = "\x00"
    return query.replace(target + CANARY_SUFFIX, hold).replace(target, primary).replace(hold, primary)


def primary_scaled_object(
    canary: Canary,
    scaled_object: Mapping[str, Any],
    *,
    primary_workload: str,
    owner_references: Sequence[Mapping[str, Any]] = (),
    include_label_prefixes: Iterable[str] = (),
    bounds: ScalerReplicas | None = None,
) -> dict[str, Any]:
    """The ``<scaledobject>-primary`` ScaledObject scaling ``primary_workload``.

    ``bounds`` (``autoscalerRef.primaryScalerReplicas``) replace the target's
    ``minReplicaCount``/``maxReplicaCount``, each one given, as in Flagger.

    Raises :class:`ValidationError` naming a ``primaryScalerQueries`` entry
    that matches no trigger of ``scaled_object``.
    """
    ref = canary.spec.autoscaler_ref
    queries = dict(ref.primary_scaler_queries) if ref is not None else {}
    meta_in = scaled_object.get("metadata") or {}
    spec: dict[str, Any] = json_copy(dict(scaled_object.get("spec") or {}))
    target_ref = spec.get("scaleTargetRef") or {}
    spec["scaleTargetRef"] = {
        **{k: target_ref[k] for k in ("apiVersion", "kind", "envSourceContainerName") if k in target_ref},
        "name": primary_workload,
    }
    triggers = [t for t in spec.get("triggers") or () if isinstance(t, dict)]
    _check_queries(canary, queries, triggers, str(meta_in.get("name", "")))
    for trigger in triggers:
        metadata = trigger.get("metadata")
        if not isinstance(metadata, dict):
            continue
        if queries:
            if trigger.get("name") in queries:
                metadata["query"] = queries[str(trigger["name"])]
        elif isinstance(metadata.get("query"), str):
            metadata["query"] = primary_query(metadata["query"], canary.target_name)
    if bounds is not None and bounds.min_replicas is not None:
        spec["minReplicaCount"] = bounds.min_replicas
    if bounds is not None and bounds.max_replicas is not None:
        spec["maxReplicaCount"] = bounds.max_replicas
    hpa_config = (spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}
    if hpa_config.get("name"):
        hpa_config["name"] = primary_name(str(hpa_config["name"]))
    prefixes = tuple(include_label_prefixes)
    meta: dict[str, Any] = {"name": primary_name(str(meta_in.get("name", ""))), "namespace": canary.namespace}
    for field in ("labels", "annotations"):
        values = include_by_prefix(meta_in.get(field), prefixes)
        values.pop(PAUSED_REPLICAS, None)
        if values:
            meta[field] = values
    if owner_references:
        meta["ownerReferences"] = [dict(o) for o in owner_references]
    return {"apiVersion": KEDA_API_VERSION, "kind": SCALED_OBJECT, "metadata": meta, "spec": spec}


def _check_queries(
    canary: Canary, queries: Mapping[str, str], triggers: Sequence[Mapping[str, Any]], name: str
) -> None:
    names = {str(t.get("name")) for t in triggers if t.get("name")}
    problems = [
        FieldProblem(
            f"{_QUERIES_PATH}.{key}",
            f"no trigger of ScaledObject {name}.{canary.namespace} is named {key!r}"
            + (f" (its triggers: {', '.join(sorted(names))})" if names else " (its triggers have no names)"),
        )
        for key in sorted(queries)
        if key not in names
    ]
    if problems:
        raise ValidationError(problems, subject=f"Canary {canary.ref}")
