"""The primary DaemonSet, and how a DaemonSet target is "scaled to zero", the way Flagger does both.

A DaemonSet has no replica count: it runs one pod on every node its pod
template may be scheduled on. Flagger (``pkg/canary/daemonset_controller.go``)
therefore hides the canary between rollouts by adding a node selector no node
carries, ``flagger.app/scale-to-zero: "true"``, to the target's pod template
(:data:`SCALE_TO_ZERO`), and removes it to bring the canary back. That key is
the controller's own: it is left out of the target's revision (a DaemonSet
hidden this way is the same release), and it never reaches the primary.

The primary is the target's copy, ``<target>-primary``, selected by
``<label>: <value>-primary`` exactly like a primary Deployment
(:mod:`gitflagger.render.workload`); its ``minReadySeconds``,
``revisionHistoryLimit`` and ``updateStrategy`` are the target's. Flagger
refuses a target whose ``updateStrategy`` is not ``RollingUpdate`` (an
``OnDelete`` primary would never roll out a promotion), and so do we.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gitflagger.errors import PermanentError
from gitflagger.model.canary import DAEMONSET
from gitflagger.render.workload import json_copy, primary_metadata

SCALE_TO_ZERO_KEY = "flagger.app/scale-to-zero"
SCALE_TO_ZERO = {SCALE_TO_ZERO_KEY: "true"}
"""The node selector that keeps a DaemonSet's pods off every node (Flagger's)."""

_COPIED_SPEC_FIELDS = ("minReadySeconds", "revisionHistoryLimit", "updateStrategy")


def scale_patch(*, to_zero: bool) -> dict[str, Any]:
    """The JSON merge patch that hides (``to_zero``) or brings back a DaemonSet target's pods.

    >>> scale_patch(to_zero=True)
    {'spec': {'template': {'spec': {'nodeSelector': {'flagger.app/scale-to-zero': 'true'}}}}}
    >>> scale_patch(to_zero=False)
    {'spec': {'template': {'spec': {'nodeSelector': {'flagger.app/scale-to-zero': None}}}}}
    """
    value = SCALE_TO_ZERO[SCALE_TO_ZERO_KEY] if to_zero else None
    return {"spec": {"template": {"spec": {"nodeSelector": {SCALE_TO_ZERO_KEY: value}}}}}


def scaled_to_zero(target: Mapping[str, Any]) -> bool:
    """The DaemonSet target carries :data:`SCALE_TO_ZERO` (its canary pods are hidden)."""
    return SCALE_TO_ZERO_KEY in _node_selector(target)


def unscaled(target: Mapping[str, Any]) -> Mapping[str, Any]:
    """``target`` as its author wrote it: a DaemonSet without :data:`SCALE_TO_ZERO`.

    What the revision hash, the config tracking and a promotion read, so hiding
    the canary is not a new release and the primary is never hidden. Anything
    other than a DaemonSet carrying the key is returned as it is.
    """
    if target.get("kind") != DAEMONSET or not scaled_to_zero(target):
        return target
    out: dict[str, Any] = json_copy(dict(target))
    pod_spec = out["spec"]["template"]["spec"]
    selector = {k: v for k, v in pod_spec["nodeSelector"].items() if k != SCALE_TO_ZERO_KEY}
    if selector:
        pod_spec["nodeSelector"] = selector
    else:
        del pod_spec["nodeSelector"]
    return out


def primary_daemonset(
    target: Mapping[str, Any],
    template: Mapping[str, Any],
    *,
    namespace: str,
    label: str,
    label_value: str,
    owner_references: Sequence[Mapping[str, Any]] = (),
    include_label_prefixes: Iterable[str] = (),
) -> dict[str, Any]:
    """The ``<target>-primary`` DaemonSet running ``template`` (the target's, made primary).

    Raises :class:`PermanentError` for a target whose ``updateStrategy`` is not
    ``RollingUpdate``, with Flagger's message.
    """
    target_spec = target.get("spec") or {}
    strategy = str((target_spec.get("updateStrategy") or {}).get("type") or "")
    if strategy not in ("", "RollingUpdate"):
        target_meta = target.get("metadata") or {}
        raise PermanentError(
            f"daemonset {target_meta.get('name')}.{namespace} must have RollingUpdate strategy "
            f"but have {strategy}"
        )
    meta = primary_metadata(
        target,
        namespace=namespace,
        label=label,
        label_value=label_value,
        owner_references=owner_references,
        include_label_prefixes=include_label_prefixes,
    )
    spec: dict[str, Any] = {
        field: json_copy(target_spec[field]) for field in _COPIED_SPEC_FIELDS if field in target_spec
    }
    spec["selector"] = {"matchLabels": {label: label_value}}
    spec["template"] = json_copy(dict(template))
    return {"apiVersion": "apps/v1", "kind": DAEMONSET, "metadata": meta, "spec": spec}


def _node_selector(target: Mapping[str, Any]) -> Mapping[str, Any]:
    pod_spec = (((target.get("spec") or {}).get("template") or {}).get("spec")) or {}
    selector = pod_spec.get("nodeSelector")
    return selector if isinstance(selector, Mapping) else {}
