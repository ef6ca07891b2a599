"""Server-side apply, Flux style: apply only what drifted (ARCHITECTURE.md, *Apply*).

Without watch caches (``reconcile``, ``--dry-run``), for each object in
dependency order:

1. ``GET`` the live object (``None`` when it does not exist yet);
2. server-side apply with ``dryRun=All``: what the object *would* be;
3. compare both after :func:`~.apply_rules.comparable` strips what the server
   changes on every write (managedFields, resourceVersion, generation, status);
4. only when they differ, and not in dry-run mode, apply for real.

So applying the same manifests twice writes nothing the second time, and the
result of step 2 is exactly what ``--dry-run`` shows as the live diff.

With watch caches (:meth:`Applier.use_caches`, the controller), the live
object comes from the cache and there is no dry-run:

* **skip**: when the object sent is the one applied last time and the live
  object is still what that apply answered (same resourceVersion, or the same
  :func:`~.apply_rules.comparable` form), nothing is sent at all;
* otherwise **apply once**, and compare the live object before with the
  answer: they differ exactly when the apply changed something (drift, or a
  new manifest). The answer goes into the cache at once.

Which fields gitflagger may take and force is decided in :mod:`.apply_rules`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitflagger import killswitch
from gitflagger.adapters.kube.apply_rules import (
    as_object,
    comparable,
    drop_replicas,
    handover_manager,
    hpa_targets,
    in_apply_order,
    namespaces_needing_hpa_lookup,
    owned_by,
    redacted,
    replicas_applied_by,
    replicas_applied_elsewhere,
)
from gitflagger.adapters.kube.cache import CacheSet, ObjectCache
from gitflagger.adapters.kube.errors import Invalid
from gitflagger.adapters.kube.resources import Resource, ResourceMap
from gitflagger.adapters.kube.transport import SSA_PATCH, Transport
from gitflagger.render import Manifest

__all__ = ["Applier", "ApplyResult"]

HPAS = Resource("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True)


@dataclass(frozen=True)
class ApplyResult:
    """What applying one object did (or, with ``dry_run``, would do).

    ``live_before`` (``None`` when the object did not exist) and
    ``desired_after`` are noise-stripped like :func:`~.apply_rules.comparable`,
    ready for a unified diff. Secret values in both are replaced by their
    checksums (:func:`~.apply_rules.redacted`), so a printed diff never shows
    a secret. ``applied`` says a real (non-dry-run) apply request was sent.
    """

    kind: str
    namespace: str
    name: str
    changed: bool
    live_before: dict[str, Any] | None
    desired_after: dict[str, Any]
    api_version: str = ""
    applied: bool = False


def _replicas(obj: Mapping[str, Any] | None) -> Any:
    return ((obj or {}).get("spec") or {}).get("replicas")


def _digest(obj: Mapping[str, Any] | None) -> bytes:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).digest()


def _version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


@dataclass(frozen=True)
class LastApply:
    """What the last real apply of one object sent and got back, for :func:`can_skip`."""

    sent: bytes
    """Digest of the object sent."""
    version: str
    """resourceVersion of the answer."""
    answer: bytes
    """Digest of the answer's comparable form."""


def can_skip(last: LastApply | None, sent: bytes, live: Mapping[str, Any] | None, handover: bool) -> bool:
    """Whether applying ``sent`` again can change nothing: the same object as last time, and the
    live object untouched since (same resourceVersion, or the same comparable form).

    >>> live = {"metadata": {"resourceVersion": "7"}, "spec": {"a": 1}}
    >>> last = LastApply(b"m", "7", _digest(comparable(live)))
    >>> can_skip(last, b"m", live, False)
    True
    >>> can_skip(last, b"m", {"metadata": {"resourceVersion": "9"}, "spec": {"a": 1}, "status": {}}, False)
    True
    >>> can_skip(last, b"m", {"metadata": {"resourceVersion": "9"}, "spec": {"a": 2}}, False)
    False
    >>> can_skip(last, b"other", live, False)
    False
    """
    if last is None or live is None or handover or last.sent != sent:
        return False
    return _version(live) == last.version or _digest(comparable(live)) == last.answer


class Applier:
    """Applies manifests for :class:`~gitflagger.adapters.kube.KubeCluster`.

    ``read`` returns a live object with its managedFields (None when missing);
    ``list_items`` lists a kind in a namespace.
    """

    def __init__(
        self,
        transport: Transport,
        resources: ResourceMap,
        field_manager: str,
        *,
        read: Callable[[Resource, str, str], dict[str, Any] | None],
        list_items: Callable[[Resource, str], list[dict[str, Any]]],
    ) -> None:
        self.transport = transport
        self.resources = resources
        self.field_manager = field_manager
        self._read = read
        self._list_items = list_items
        self._caches: CacheSet | None = None
        self._last: dict[tuple[str, str, str, str], LastApply] = {}

    def use_caches(self, caches: CacheSet) -> None:
        """Read live objects from ``caches`` and switch to skip-or-apply-once (see the module doc)."""
        self._caches = caches

    def _cache(self, resource: Resource, namespace: str) -> ObjectCache | None:
        if self._caches is None:
            return None
        return self._caches.cache(resource.api_version, resource.kind, namespace)

    def apply(
        self,
        manifests: Sequence[Manifest | Mapping[str, Any]],
        *,
        dry_run: bool = False,
        autoscaled: Iterable[str] = (),
    ) -> list[ApplyResult]:
        """See :meth:`KubeCluster.apply <gitflagger.adapters.kube.KubeCluster.apply>`."""
        objects = in_apply_order(as_object(m) for m in manifests)
        auto = set(autoscaled)
        hpa_managed = hpa_targets(objects)
        for namespace in sorted(namespaces_needing_hpa_lookup(objects, hpa_managed, auto)):
            hpa_managed |= hpa_targets(self._list_items(HPAS, namespace))
        results = []
        for obj in objects:
            results.append(self._one(obj, dry_run=dry_run, hpa_managed=hpa_managed, autoscaled=auto))
            if not dry_run:
                killswitch.point("applying")  # the durability tests' kill switch; off by default
        return results

    def _one(
        self, obj: dict[str, Any], *, dry_run: bool, hpa_managed: set[tuple[str, str]], autoscaled: set[str]
    ) -> ApplyResult:
        meta = obj.get("metadata") or {}
        resource = self.resources.resolve(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if not name or (resource.namespaced and not namespace):
            raise Invalid(f"apply {resource.label}: a manifest needs metadata.name and metadata.namespace")
        cache = None if dry_run else self._cache(resource, namespace)
        live = cache.get(namespace, name) if cache is not None else self._read(resource, namespace, name)
        handover = False
        if resource.kind == "Deployment" and (
            (namespace, name) in hpa_managed
            or name in autoscaled
            or replicas_applied_elsewhere(live, self.field_manager)
        ):
            drop_replicas(obj)
            handover = replicas_applied_by(live, self.field_manager)
        if handover and not dry_run:
            self._hand_over_replicas(resource, namespace, name, live)
        query = [("fieldManager", self.field_manager)]
        if owned_by(live, self.field_manager):
            query.append(("force", "true"))
        path = resource.path(namespace, name)
        if self._caches is not None and not dry_run:
            return self._apply_once(resource, obj, live, query, handover, cache)
        would_be = self.transport.request(
            "PATCH",
            path,
            query=[*query, ("dryRun", "All")],
            body=obj,
            content_type=SSA_PATCH,
            apply=True,
            what=resource.describe("apply (server dry-run)", namespace, name),
        )
        if handover and dry_run:  # what the hand-over keeps, which a lone dry-run cannot show
            would_be.setdefault("spec", {})["replicas"] = _replicas(live)
        before = comparable(live) if live is not None else None
        after = comparable(would_be)
        changed = before != after or handover  # giving up a field is a change even at the same value
        applied = changed and not dry_run
        if applied:
            after = comparable(self._send(resource, namespace, name, obj, query))
        return ApplyResult(
            kind=resource.kind,
            namespace=namespace,
            name=name,
            changed=changed,
            live_before=redacted(before),
            desired_after=redacted(after) or {},
            api_version=resource.api_version,
            applied=applied,
        )

    def _apply_once(
        self,
        resource: Resource,
        obj: dict[str, Any],
        live: dict[str, Any] | None,
        query: list[tuple[str, str]],
        handover: bool,
        cache: ObjectCache | None,
    ) -> ApplyResult:
        """Skip, or apply with no dry-run first; ``changed`` compares live before with the answer."""
        meta = obj.get("metadata") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        key = (resource.api_version, resource.kind, namespace, name)
        sent = _digest(obj)
        before = comparable(live) if live is not None else None
        if can_skip(self._last.get(key), sent, live, handover):
            return ApplyResult(
                kind=resource.kind,
                namespace=namespace,
                name=name,
                changed=False,
                live_before=redacted(before),
                desired_after=redacted(before) or {},
                api_version=resource.api_version,
            )
        answer = self._send(resource, namespace, name, obj, query)
        after = comparable(answer)
        self._last[key] = LastApply(sent, _version(answer), _digest(after))
        if cache is not None:
            cache.observe(answer)
        return ApplyResult(
            kind=resource.kind,
            namespace=namespace,
            name=name,
            changed=before != after or handover,
            live_before=redacted(before),
            desired_after=redacted(after) or {},
            api_version=resource.api_version,
            applied=True,
        )

    def _send(
        self, resource: Resource, namespace: str, name: str, obj: dict[str, Any], query: list[tuple[str, str]]
    ) -> dict[str, Any]:
        """The server-side apply itself; the live object as the API server answers it."""
        answer: dict[str, Any] = self.transport.request(
            "PATCH",
            resource.path(namespace, name),
            query=query,
            body=obj,
            content_type=SSA_PATCH,
            apply=True,
            what=resource.describe("apply", namespace, name),
        )
        return answer

    def _hand_over_replicas(
        self, resource: Resource, namespace: str, name: str, live: Mapping[str, Any] | None
    ) -> None:
        """Let the hand-over manager own ``spec.replicas`` at its live value before gitflagger lets go."""
        body = {
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": _replicas(live)},
        }
        self.transport.request(
            "PATCH",
            resource.path(namespace, name),
            query=[("fieldManager", handover_manager(self.field_manager)), ("force", "true")],
            body=body,
            content_type=SSA_PATCH,
            apply=True,
            what=resource.describe("hand over spec.replicas of", namespace, name),
        )
