"""ConfigMaps and Secrets the pod template uses: discovery, checksums, primary copies, rewriting.

Flagger treats a change to a referenced ConfigMap or Secret as a new revision,
exactly like a change to the pod template, and gives the primary its own
copies (``<name>-primary``) so the canary can run new configuration while the
primary keeps the old. These functions reproduce its config tracker
(``pkg/canary/config_tracker.go``) as pure functions over plain dicts:

* a reference is any of ``volumes[].configMap``/``.secret``, projected volume
  sources, and ``env[].valueFrom.configMapKeyRef``/``secretKeyRef`` and
  ``envFrom[]`` of containers and init containers;
* a config annotated ``flagger.app/config-tracking: disabled`` is left alone:
  not tracked, not copied, references not rewritten;
* only Secrets of type ``Opaque``, ``kubernetes.io/basic-auth``,
  ``kubernetes.io/ssh-auth`` and ``kubernetes.io/tls`` are tracked; registry
  and service-account tokens belong to the ServiceAccount, not the release;
* a referenced config that does not exist is skipped, unless a reference says
  ``optional: false`` explicitly: then it is an error, because the primary
  could never start (Flagger's ``fieldIsMandatory`` makes the same choice).

Secret copies are real Secrets that the apply stage creates, but the recorder
must never write them to git: :func:`gitflagger.render.render` marks them
``secret=True`` and only their checksum is recorded (ARCHITECTURE.md, *The config repo*).
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gitflagger.errors import TemporaryError
from gitflagger.model.hashing import config_checksum
from gitflagger.render.names import include_by_prefix, primary_name

ConfigKind = Literal["configmap", "secret"]

TRACKING_ANNOTATION = "flagger.app/config-tracking"
"""A value starting with ``disable`` opts a ConfigMap or Secret out of tracking."""

TRACKED_SECRET_TYPES = frozenset(
    {"Opaque", "kubernetes.io/basic-auth", "kubernetes.io/ssh-auth", "kubernetes.io/tls"}
)


@dataclass(frozen=True, order=True)
class ConfigRef:
    """One ConfigMap or Secret the pod template names, and whether it must exist."""

    kind: ConfigKind
    name: str
    required: bool = False
    """Some reference says ``optional: false`` explicitly."""

    @property
    def key(self) -> str:
        """``configmap/<name>`` or ``secret/<name>``: the key of ``status.trackedConfigs``."""
        return f"{self.kind}/{self.name}"


def config_refs(template: Mapping[str, Any]) -> tuple[ConfigRef, ...]:
    """Every ConfigMap and Secret the pod template references, sorted, one per (kind, name)."""
    required: dict[tuple[ConfigKind, str], bool] = {}
    for kind, holder, field in _ref_sites(template):
        name = holder.get(field)
        if not isinstance(name, str) or not name:
            continue
        must = holder.get("optional") is False
        required[(kind, name)] = required.get((kind, name), False) or must
    return tuple(sorted(ConfigRef(k, n, r) for (k, n), r in required.items()))


def tracked_configs(
    template: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """``{"configmap/<name>": checksum, "secret/<name>": checksum}`` for the configs Flagger tracks.

    This is ``status.trackedConfigs``: a changed checksum is a new revision.
    ``configmaps`` and ``secrets`` map names to the objects that exist in the
    namespace (more than the template uses is fine).
    """
    out: dict[str, str] = {}
    for ref in config_refs(template):
        obj = _lookup(ref, configmaps, secrets)
        if obj is not None and _is_tracked(ref.kind, obj):
            out[ref.key] = _config_checksum(ref.kind, obj)
    return dict(sorted(out.items()))


def rewrite_config_refs(template: Mapping[str, Any], tracked: Collection[str]) -> dict[str, Any]:
    """A copy of the pod template whose references to ``tracked`` configs point at ``<name>-primary``.

    ``tracked`` holds ``configmap/<name>`` / ``secret/<name>`` keys. References
    to anything else (untracked, missing, opted out) are left as they are.
    """
    out: dict[str, Any] = copy.deepcopy(dict(template))
    for kind, holder, field in _ref_sites(out):
        name = holder.get(field)
        if isinstance(name, str) and f"{kind}/{name}" in tracked:
            holder[field] = primary_name(name)
    return out


def primary_config_copies(
    configs: Mapping[str, Mapping[str, Any]],
    *,
    namespace: str,
    owner_references: Sequence[Mapping[str, Any]] = (),
    include_label_prefixes: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The ``<name>-primary`` ConfigMaps and Secrets for ``configs``, keyed ``configmap/<name>``.

    The copy's name comes from the key, not from the object, so the object may
    be the source config or an earlier copy: copying a copy gives the same copy.
    ConfigMaps keep ``data`` and ``binaryData`` (Flagger drops ``binaryData``, a
    bug we do not reproduce); Secrets keep ``type`` and ``data``, with any
    ``stringData`` folded in the way the apiserver would. ``immutable`` is not
    copied, or the next promotion could not update the copy.
    """
    prefixes = tuple(include_label_prefixes)
    out: list[dict[str, Any]] = []
    for key in sorted(configs):
        kind, _, name = key.partition("/")
        obj = configs[key]
        meta: dict[str, Any] = {"name": primary_name(name), "namespace": namespace}
        labels = include_by_prefix((obj.get("metadata") or {}).get("labels"), prefixes)
        if labels:
            meta["labels"] = labels
        if owner_references:
            meta["ownerReferences"] = [dict(o) for o in owner_references]
        if kind == "configmap":
            copy_obj: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}
            for field in ("data", "binaryData"):
                if obj.get(field):
                    copy_obj[field] = dict(obj[field])
        elif kind == "secret":
            copy_obj = {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
            copy_obj["type"] = obj.get("type") or "Opaque"
            data = encode_secret_data(obj)
            if data:
                copy_obj["data"] = data
        else:
            raise ValueError(f"config key must start with configmap/ or secret/, got {key!r}")
        out.append(copy_obj)
    return out


def select_configs(
    tracked: Iterable[str],
    configmaps: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, Any]],
) -> dict[str, Mapping[str, Any]]:
    """``{key: object}`` for the tracked keys, ready for :func:`primary_config_copies`."""
    out: dict[str, Mapping[str, Any]] = {}
    for key in tracked:
        kind, _, name = key.partition("/")
        source = configmaps if kind == "configmap" else secrets
        if name in source:
            out[key] = source[name]
    return out


def require_configs(
    template: Mapping[str, Any],
    configmaps: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, Any]],
    *,
    who: str,
) -> None:
    """Raise :class:`TemporaryError` when a reference marked ``optional: false`` has no object.

    Temporary, not permanent: the usual cause is that the config has simply not
    been applied yet, and the next reconcile will find it.
    """
    missing = [r.key for r in config_refs(template) if r.required and _lookup(r, configmaps, secrets) is None]
    if missing:
        raise TemporaryError(f"{who} references {', '.join(missing)} (optional: false), which does not exist")


def _config_checksum(kind: ConfigKind, obj: Mapping[str, Any]) -> str:
    """The ``status.trackedConfigs`` value of one config: :func:`gitflagger.model.hashing.config_checksum`.

    A Secret's ``stringData`` is folded into ``data`` first, so a Secret read
    from a manifest and the same Secret read back from the apiserver agree.
    """
    if kind == "secret":
        return config_checksum(kind, encode_secret_data(obj), None)
    return config_checksum(kind, obj.get("data"), obj.get("binaryData"))


def encode_secret_data(obj: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's ``data`` with ``stringData`` base64-encoded into it; ``stringData`` wins, as in the
    apiserver."""
    data = {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
    for k, v in (obj.get("stringData") or {}).items():
        data[str(k)] = base64.b64encode(str(v).encode()).decode()
    return dict(sorted(data.items()))


def _is_tracked(kind: ConfigKind, obj: Mapping[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if str(annotations.get(TRACKING_ANNOTATION, "")).startswith("disable"):
        return False
    return kind == "configmap" or (obj.get("type") or "Opaque") in TRACKED_SECRET_TYPES


def _lookup(
    ref: ConfigRef,
    configmaps: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, Mapping[str, Any]],
) -> Mapping[str, Any] | None:
    return (configmaps if ref.kind == "configmap" else secrets).get(ref.name)


_Site = tuple[ConfigKind, dict[str, Any], str]


def _ref_sites(template: Mapping[str, Any]) -> Iterator[_Site]:
    """Every place in a pod template that names a config: ``(kind, holder dict, name field)``.

    Yields the live dicts of ``template`` so :func:`rewrite_config_refs` can
    edit a copy in place; readers only look.
    """
    spec = template.get("spec") or {}
    for volume in _dicts(spec.get("volumes")):
        yield from _site("configmap", volume.get("configMap"), "name")
        yield from _site("secret", volume.get("secret"), "secretName")
        for source in _dicts((volume.get("projected") or {}).get("sources")):
            yield from _site("configmap", source.get("configMap"), "name")
            yield from _site("secret", source.get("secret"), "name")
    for containers in ("initContainers", "containers"):
        for container in _dicts(spec.get(containers)):
            for env in _dicts(container.get("env")):
                value_from = env.get("valueFrom") or {}
                yield from _site("configmap", value_from.get("configMapKeyRef"), "name")
                yield from _site("secret", value_from.get("secretKeyRef"), "name")
            for env_from in _dicts(container.get("envFrom")):
                yield from _site("configmap", env_from.get("configMapRef"), "name")
                yield from _site("secret", env_from.get("secretRef"), "name")


def _site(kind: ConfigKind, holder: Any, field: str) -> Iterator[_Site]:
    if isinstance(holder, dict):
        yield kind, holder, field


def _dicts(items: Any) -> Iterator[dict[str, Any]]:
    for item in items or ():
        if isinstance(item, dict):
            yield item
