"""The objects ``gitflagger simulate`` reads from files: one Canary and what it refers to.

The files are the ones a user would hand ``kubectl apply``: any number of
multi-document YAML files, in any order. Exactly one Canary must be among them;
its target Deployment and (when ``autoscalerRef`` is set) its HPA must be too.
ConfigMaps and Secrets of the Canary's namespace are kept for config tracking.
Other objects are ignored, so a whole app bundle can be passed as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitflagger.errors import PermanentError
from gitflagger.model.canary import API_GROUP, Canary
from gitflagger.model.parse import parse_canary


@dataclass(frozen=True)
class Workload:
    canary: Canary
    target: Mapping[str, Any]
    hpa: Mapping[str, Any] | None = None
    configmaps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def workload_from_documents(docs: Sequence[Mapping[str, Any]]) -> Workload:
    """Pick the Canary and its objects out of loaded documents; a missing piece is a clear error."""
    canaries = [d for d in docs if d.get("kind") == "Canary" and _group(d) == API_GROUP]
    if len(canaries) != 1:
        found = ", ".join(_name(d) for d in canaries) or "none"
        raise PermanentError(f"expected exactly one Canary ({API_GROUP}) in the files, found {found}")
    return _workload(parse_canary(canaries[0]), docs)


def workloads_from_documents(docs: Sequence[Mapping[str, Any]], only: str | None = None) -> list[Workload]:
    """Every Canary among the documents with its objects, or the one ``only`` (``ns/name``) names.

    The same ``ns/name`` twice (say a v1alpha3 and a v1beta1 copy) counts once when
    both parse to the same spec, and is an error when they differ: one directory
    in the repo cannot hold two different Canaries.
    """
    found: dict[str, Canary] = {}
    for doc in docs:
        if doc.get("kind") != "Canary" or _group(doc) != API_GROUP:
            continue
        canary = parse_canary(doc)
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


def _group(doc: Mapping[str, Any]) -> str:
    return str(doc.get("apiVersion") or "").partition("/")[0]


def _name(doc: Mapping[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    return f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
