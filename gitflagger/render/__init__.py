"""Render: (Canary, target objects, Decision) → every manifest that must exist. Pure.

No I/O and no clock: the same inputs always give the same manifests in the same
order, and :func:`gitflagger.render.yaml.dump_canonical` gives the same bytes,
so the config repo only changes when something really changed.

The order is the apply order (ARCHITECTURE.md, *Apply*): config copies, Services, the primary
Deployment or DaemonSet (:mod:`.workload`, :mod:`.daemonset`), its HPA or KEDA ScaledObject
(:mod:`.keda`), then the routing objects of the Canary's router
(:mod:`gitflagger.render.routers`: for Istio the DestinationRules, then the
VirtualService), which must not route to a Service that does not exist yet.

Owner references: Flagger makes the Canary the controller owner of everything
it generates, so deleting the Canary garbage-collects them. We do the same when
the Canary has a ``uid`` (read from the cluster). A ``uid`` is specific to one
cluster, though: a manifest that names a uid the cluster does not know is
garbage-collected on sight. So a Canary without a uid (``gitflagger simulate``,
a Canary read from files) renders no owner references rather than invented ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitflagger.decide.decision import Decision
from gitflagger.errors import PermanentError, TemporaryError
from gitflagger.model.canary import DAEMONSET, HPA, SCALED_OBJECT, TARGET_KINDS, V1BETA1, Canary
from gitflagger.model.hashing import canonical_json
from gitflagger.render.configs import (
    primary_config_copies,
    require_configs,
    select_configs,
    tracked_configs,
)
from gitflagger.render.daemonset import primary_daemonset, unscaled
from gitflagger.render.keda import primary_scaled_object
from gitflagger.render.names import (
    FLAGGER_LABELLING,
    SELECTOR_LABELS,
    Labelling,
    primary_name,
    selector_label,
)
from gitflagger.render.routers import check_routing
from gitflagger.render.routers.services import services
from gitflagger.render.workload import (
    kept_primary_template,
    primary_deployment,
    primary_hpa,
    primary_replicas,
    primary_template_from_target,
)
from gitflagger.render.yaml import dump_canonical, strip_noise

__all__ = ["FLAGGER_LABELLING", "Labelling", "Manifest", "WorkloadInputs", "owner_references", "render"]


@dataclass(frozen=True)
class Manifest:
    """One object to apply. ``secret=True`` means: apply it, never write it to git.

    The recorder stores a Secret copy as its :attr:`checksum` only (ARCHITECTURE.md, *The config repo*);
    :meth:`to_yaml` refuses secrets so a slip cannot leak one into a commit.
    """

    obj: dict[str, Any]
    secret: bool = False

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def path(self) -> str:
        """``<kind>-<name>.yaml`` in lower case; the recorder adds ``<prefix>/<ns>/<canary>/``."""
        return f"{self.kind}-{self.name}.yaml".lower()

    @property
    def checksum(self) -> str:
        """``sha256:<hex>`` of the object's canonical JSON, server noise stripped."""
        return "sha256:" + hashlib.sha256(canonical_json(strip_noise(self.obj))).hexdigest()

    def to_yaml(self) -> str:
        """Canonical YAML for the config repo. Raises ``ValueError`` for a secret."""
        if self.secret:
            raise ValueError(f"{self.kind} {self.name} is secret: record its checksum, never its content")
        return dump_canonical(self.obj)


@dataclass(frozen=True)
class WorkloadInputs:
    """The objects render reads besides the Canary: what observe found in the namespace.

    ``target`` is the Deployment or DaemonSet, ``hpa`` the ``autoscalerRef``'s
    object (an HPA or a KEDA ScaledObject). ``configmaps`` and ``secrets`` map
    names to objects; more than the target uses is fine. ``primary_template``
    is the pod template the primary runs now, in its primary form (as read
    from ``<target>-primary``); ``primary_configs`` are the configs it runs,
    keyed like ``status.trackedConfigs`` (``configmap/<name>``, source names),
    each either the source object as of the last promotion or its ``-primary``
    copy. Both are ``None`` before the primary exists. ``primary_replicas`` is
    the primary's current ``spec.replicas``, kept between promotions because
    the target is scaled to zero then.
    """

    target: Mapping[str, Any]
    hpa: Mapping[str, Any] | None = None
    configmaps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    primary_template: Mapping[str, Any] | None = None
    primary_configs: Mapping[str, Mapping[str, Any]] | None = None
    primary_replicas: int | None = None


def render(
    canary: Canary,
    inputs: WorkloadInputs,
    decision: Decision,
    *,
    include_label_prefixes: Iterable[str] = (),
    selector_labels: Sequence[str] = SELECTOR_LABELS,
) -> tuple[Manifest, ...]:
    """Every manifest for this step of ``canary``, in apply order.

    With ``decision.primary_from_target`` (initialisation, promotion) the
    primary gets the target's pod template and its current configs; otherwise
    it keeps ``inputs.primary_template`` and ``inputs.primary_configs``.
    ``include_label_prefixes`` is Flagger's ``-include-label-prefix``: which
    labels and annotations of the target are copied to the primary (none by
    default, ``*`` for all); ``selector_labels`` is ``-selector-labels``: the
    target selector labels looked for, in order (:class:`Labelling`).

    Raises :class:`PermanentError` for a target the user must fix (no selector
    label, unsupported kinds), a :class:`ValidationError` naming the field
    for routing the Canary's router cannot do, and :class:`TemporaryError` for an object that
    may simply not exist yet (the HPA, a config marked ``optional: false``).
    """
    _check_refs(canary, inputs)
    router = check_routing(canary)
    target = strip_noise(unscaled(inputs.target))
    namespace = canary.namespace
    prefixes = tuple(include_label_prefixes)
    owners = owner_references(canary)
    label, value = selector_label(target, selector_labels)
    primary_value = primary_name(value)

    if decision.primary_from_target:
        template = (target.get("spec") or {}).get("template") or {}
        require_configs(
            template,
            inputs.configmaps,
            inputs.secrets,
            who=f"{canary.spec.target_ref.kind.lower()} {canary.target_name}.{namespace}",
        )
        tracked = tracked_configs(template, inputs.configmaps, inputs.secrets)
        configs = select_configs(tracked, inputs.configmaps, inputs.secrets)
        primary_template = primary_template_from_target(
            target, label=label, label_value=primary_value, tracked=tracked, selector_labels=selector_labels
        )
    else:
        if inputs.primary_template is None:
            raise ValueError(
                f"{canary.key}: the primary's template is needed unless it is rendered from the target"
            )
        configs = dict(inputs.primary_configs or {})
        primary_template = kept_primary_template(
            inputs.primary_template, label=label, label_value=primary_value
        )

    out: list[Manifest] = [
        Manifest(obj, secret=obj["kind"] == "Secret")
        for obj in primary_config_copies(
            configs, namespace=namespace, owner_references=owners, include_label_prefixes=prefixes
        )
    ]
    containers = ((target.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or ()
    out += [
        Manifest(obj)
        for obj in services(
            canary, label=label, label_value=value, containers=containers, owner_references=owners
        )
    ]
    workload = _primary_workload(
        canary,
        inputs,
        target,
        primary_template,
        label=label,
        label_value=primary_value,
        promoting=decision.primary_from_target,
        owners=owners,
        prefixes=prefixes,
    )
    out.append(Manifest(workload))
    if canary.spec.autoscaler_ref is not None and inputs.hpa is not None:
        out.append(Manifest(_primary_autoscaler(canary, inputs.hpa, workload, owners, prefixes)))
    out += [Manifest(obj) for obj in router.manifests(canary, decision.routes, owners)]
    return tuple(out)


def _primary_workload(
    canary: Canary,
    inputs: WorkloadInputs,
    target: Mapping[str, Any],
    template: Mapping[str, Any],
    *,
    label: str,
    label_value: str,
    promoting: bool,
    owners: Sequence[Mapping[str, Any]],
    prefixes: tuple[str, ...],
) -> dict[str, Any]:
    """The ``<target>-primary`` Deployment or DaemonSet running ``template``."""
    if canary.spec.target_ref.kind == DAEMONSET:
        return primary_daemonset(
            target,
            template,
            namespace=canary.namespace,
            label=label,
            label_value=label_value,
            owner_references=owners,
            include_label_prefixes=prefixes,
        )
    replicas = primary_replicas(
        target,
        autoscaled=canary.spec.autoscaler_ref is not None,
        promoting=promoting,
        current=inputs.primary_replicas,
    )
    return primary_deployment(
        target,
        template,
        namespace=canary.namespace,
        label=label,
        label_value=label_value,
        replicas=replicas,
        owner_references=owners,
        include_label_prefixes=prefixes,
    )


def _primary_autoscaler(
    canary: Canary,
    autoscaler: Mapping[str, Any],
    workload: Mapping[str, Any],
    owners: Sequence[Mapping[str, Any]],
    prefixes: tuple[str, ...],
) -> dict[str, Any]:
    """The ``-primary`` HPA or KEDA ScaledObject scaling the primary ``workload``."""
    primary = str(workload["metadata"]["name"])
    ref = canary.spec.autoscaler_ref
    if ref is not None and ref.keda:
        return primary_scaled_object(
            canary,
            strip_noise(autoscaler),
            primary_workload=primary,
            owner_references=owners,
            include_label_prefixes=prefixes,
            bounds=canary.spec.primary_scaler_replicas,
        )
    return primary_hpa(
        strip_noise(autoscaler),
        namespace=canary.namespace,
        primary_deployment_name=primary,
        owner_references=owners,
        include_label_prefixes=prefixes,
        bounds=canary.spec.primary_scaler_replicas,
    )


def owner_references(canary: Canary) -> list[dict[str, Any]]:
    """The Canary as controller owner, as Flagger sets it; none without a uid (see module doc)."""
    if not canary.uid:
        return []
    return [
        {
            "apiVersion": V1BETA1,
            "kind": "Canary",
            "name": canary.name,
            "uid": canary.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def _check_refs(canary: Canary, inputs: WorkloadInputs) -> None:
    target_ref = canary.spec.target_ref
    if target_ref.kind not in TARGET_KINDS:
        raise PermanentError(
            f"{canary.key}: spec.targetRef.kind {target_ref.kind} is not supported, "
            "use Deployment or DaemonSet"
        )
    if inputs.target.get("kind", target_ref.kind) != target_ref.kind:
        raise PermanentError(
            f"{canary.key}: target {target_ref.name} is a {inputs.target.get('kind')}, "
            f"not a {target_ref.kind}"
        )
    ref = canary.spec.autoscaler_ref
    if ref is None:
        return
    if ref.kind not in (HPA, SCALED_OBJECT):
        raise PermanentError(
            f"{canary.key}: spec.autoscalerRef.kind {ref.kind} is not supported, use {HPA} or {SCALED_OBJECT}"
        )
    if inputs.hpa is None:
        raise TemporaryError(f"{canary.key}: {ref.kind} {ref.name}.{canary.namespace} not found")
