"""The objects ``gitflagger simulate`` reads from files: one Canary and what it refers to.

The files are the ones a user would hand ``kubectl apply``: any number of
multi-document YAML files, in any order. Exactly one Canary must be among them;
its target Deployment or DaemonSet and (when ``autoscalerRef`` is set) its HPA
or KEDA ScaledObject must be too.
ConfigMaps and Secrets of the Canary's namespace are kept for config tracking.
Other objects are ignored, so a whole app bundle can be passed as it is.

No API server checked these files, so what the API server would refuse and
gitflagger relies on is checked here, before anything is written: the names of
the ConfigMaps and Secrets the target's pod template uses become file names in
the config repo (``configmap-<name>-primary.yaml``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitflagger.errors import PermanentError, ValidationError
from gitflagger.model.canary import API_GROUP, DEFAULT_PROVIDER, Canary
from gitflagger.model.fields import Problems, join
from gitflagger.model.parse import parse_canary
from gitflagger.render.routers import check_routing


@dataclass(frozen=True)
class Workload:
    canary: Canary
    target: Mapping[str, Any]
    hpa: Mapping[str, Any] | None = None
    configmaps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def workload_from_documents(
    docs: Sequence[Mapping[str, Any]], *, default_provider: str = DEFAULT_PROVIDER
) -> Workload:
    """Pick the Canary and its objects out of loaded documents; a missing piece is a clear error.

    ``default_provider`` routes a Canary without ``spec.provider``
    (``--mesh-provider``); the Canary's routing is checked here, before any tick.
    """
    canaries = [d for d in docs if d.get("kind") == "Canary" and _group(d) == API_GROUP]
    if len(canaries) != 1:
        found = ", ".join(_name(d) for d in canaries) or "none"
        raise PermanentError(f"expected exactly one Canary ({API_GROUP}) in the files, found {found}")
    return _workload(_parsed(canaries[0], default_provider), docs)


def workloads_from_documents(
    docs: Sequence[Mapping[str, Any]], only: str | None = None, *, default_provider: str = DEFAULT_PROVIDER
) -> list[Workload]:
    """Every Canary among the documents with its objects, or the one ``only`` (``ns/name``) names.

    The same ``ns/name`` twice (say a v1alpha3 and a v1beta1 copy) counts once when
    both parse to the same spec, and is an error when they differ: one directory
    in the repo cannot hold two different Canaries.
    """
    found: dict[str, Canary] = {}
    for doc in docs:
        if doc.get("kind") != "Canary" or _group(doc) != API_GROUP:
            continue
        canary = _parsed(doc, default_provider)
        seen = found.get(canary.ref)
        if seen is not None and seen.spec != canary.spec:
            raise PermanentError(f"Canary {canary.ref} is in the files twice, with different specs; pass one")
        found.setdefault(canary.ref, canary)
    if not found:
        raise PermanentError(f"no Canary ({API_GROUP}) in the files")
    if only is not None:
        if only not in found:
            raise PermanentError(f"--canary {only}: not in the files, which hold {', '.join(sorted(found))}")
        return [_workload(found[only], docs)]
    return [_workload(canary, docs) for _, canary in sorted(found.items())]


def _parsed(doc: Mapping[str, Any], default_provider: str) -> Canary:
    """The Canary, parsed with ``--mesh-provider`` as its default and its routing checked."""
    canary = parse_canary(doc, default_provider=default_provider)
    check_routing(canary)
    return canary


def _workload(canary: Canary, docs: Sequence[Mapping[str, Any]]) -> Workload:
    namespace = canary.namespace

    def objects(kind: str) -> dict[str, Mapping[str, Any]]:
        out: dict[str, Mapping[str, Any]] = {}
        for doc in docs:
            meta = doc.get("metadata") or {}
            if doc.get("kind") == kind and (meta.get("namespace") or namespace) == namespace:
                out[str(meta.get("name"))] = doc
        return out

    ref = canary.spec.target_ref
    target = objects(ref.kind).get(ref.name)
    if target is None:
        raise PermanentError(f"{canary.ref}: target {ref.kind} {namespace}/{ref.name} is not in the files")
    _check_config_names(ref.kind, f"{namespace}/{ref.name}", target)
    hpa = None
    if canary.spec.autoscaler_ref is not None:
        scaler = canary.spec.autoscaler_ref
        hpa = objects(scaler.kind).get(scaler.name)
        if hpa is None:
            raise PermanentError(
                f"{canary.ref}: autoscaler {scaler.kind} {namespace}/{scaler.name} is not in the files"
            )
    return Workload(
        canary=canary,
        target=target,
        hpa=hpa,
        configmaps=objects("ConfigMap"),
        secrets=objects("Secret"),
    )


_Site = tuple[Mapping[str, Any], str, str]


def _check_config_names(kind: str, name: str, target: Mapping[str, Any]) -> None:
    """Refuse a pod template naming a ConfigMap or Secret the API server would not accept as a name."""
    template = (target.get("spec") or {}).get("template")
    if not isinstance(template, Mapping):
        return
    problems = Problems()
    for holder, key, path in _config_name_sites(template.get("spec"), "spec.template.spec"):
        problems.name(holder, key, path)
    if problems.items:
        raise ValidationError(problems.items, subject=f"{kind} {name}")


def _config_name_sites(spec: Any, path: str) -> Iterator[_Site]:
    """``(holder, name key, holder's path)`` of every ConfigMap and Secret name in a pod spec.

    The places :func:`~gitflagger.render.configs.config_refs` reads, with their field paths.
    """
    if not isinstance(spec, Mapping):
        return
    for v, volume in _indexed(spec.get("volumes"), join(path, "volumes")):
        yield from _holder(volume, "configMap", "name", v)
        yield from _holder(volume, "secret", "secretName", v)
        projected = volume.get("projected")
        if isinstance(projected, Mapping):
            for p, source in _indexed(projected.get("sources"), join(join(v, "projected"), "sources")):
                yield from _holder(source, "configMap", "name", p)
                yield from _holder(source, "secret", "name", p)
    for containers in ("initContainers", "containers"):
        for c, container in _indexed(spec.get(containers), join(path, containers)):
            for e, env in _indexed(container.get("env"), join(c, "env")):
                value_from = env.get("valueFrom")
                if isinstance(value_from, Mapping):
                    yield from _holder(value_from, "configMapKeyRef", "name", join(e, "valueFrom"))
                    yield from _holder(value_from, "secretKeyRef", "name", join(e, "valueFrom"))
            for f, env_from in _indexed(container.get("envFrom"), join(c, "envFrom")):
                yield from _holder(env_from, "configMapRef", "name", f)
                yield from _holder(env_from, "secretRef", "name", f)


def _indexed(items: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, Mapping):
                yield join(path, i), item


def _holder(parent: Mapping[str, Any], key: str, field: str, path: str) -> Iterator[_Site]:
    holder = parent.get(key)
    if isinstance(holder, Mapping) and holder.get(field) not in (None, ""):
        yield holder, field, join(path, key)


def _group(doc: Mapping[str, Any]) -> str:
    return str(doc.get("apiVersion") or "").partition("/")[0]


def _name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
