"""The Kubernetes edge of the pipeline: observe, apply and report (ARCHITECTURE.md, *Apply*).

Objects are plain dicts, as the API serves them, minus ``managedFields``.
Every request is rate limited, counted in :attr:`KubeCluster.requests_made`
and its failures arrive as :mod:`gitflagger.adapters.kube.errors`.

With :meth:`KubeCluster.start_caches` (the controller), the kinds a step reads
and applies (:func:`cached_kinds`: the workload's and the mesh provider's
router's) are served from watch caches
(:mod:`.cache`) and applies skip what cannot change (:mod:`.apply`): a step
then costs its writes only. Secrets are always read by name.
"""

from __future__ import annotations

import contextlib
import copy
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from gitflagger.adapters.kube.apply import HPAS, Applier, ApplyResult
from gitflagger.adapters.kube.cache import CacheSet, ObjectCache
from gitflagger.adapters.kube.config import ClusterSource, api_client, find_cluster
from gitflagger.adapters.kube.errors import Conflict, NotFound
from gitflagger.adapters.kube.events import EventRecorder
from gitflagger.adapters.kube.ratelimit import TokenBucket
from gitflagger.adapters.kube.resources import Resource, ResourceMap
from gitflagger.adapters.kube.transport import MERGE_PATCH, Transport, strip_managed_fields
from gitflagger.adapters.kube.watch import Watch
from gitflagger.model.canary import DEFAULT_PROVIDER
from gitflagger.render import Manifest
from gitflagger.render.routers import router_for

__all__ = ["CANARIES", "KubeCluster", "cached_kinds"]

CANARIES = Resource("flagger.app/v1beta1", "Canary", "canaries", True)
DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments", True)
CONFIG_KINDS = {
    "configmap": Resource("v1", "ConfigMap", "configmaps", True),
    "secret": Resource("v1", "Secret", "secrets", True),
}
CONFLICT_RETRIES = 5
PAGE_SIZE = 500
WORKLOAD_CACHED = (
    DEPLOYMENTS,
    HPAS,
    Resource("v1", "Service", "services", True),
    CONFIG_KINDS["configmap"],
    Resource("flagger.app/v1beta1", "AlertProvider", "alertproviders", True),
)


def cached_kinds(provider: str = DEFAULT_PROVIDER) -> tuple[Resource, ...]:
    """The kinds :meth:`KubeCluster.start_caches` watches: what a step reads and applies, and the
    AlertProviders (observe resolves them every pass and rebuilds a notifier only when one changed).
    Never Secrets.

    The routing kinds are those of ``provider``'s router (the controller's
    ``--mesh-provider``). A Canary naming another provider still works: its
    routing kinds have no cache and are read by name.
    """
    routes = router_for(provider).kinds
    return WORKLOAD_CACHED + tuple(Resource(k.api_version, k.kind, k.plural, True) for k in routes)


CACHED = cached_kinds()
"""The kinds watched for the default provider."""


def _meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    return meta if isinstance(meta, dict) else {}


class KubeCluster:
    """One API server, seen through gitflagger's needs. Thread-safe.

    ``qps``/``burst`` bound the request rate (:class:`TokenBucket`);
    ``field_manager`` names gitflagger in managedFields and is the owner that
    server-side apply forces conflicts for.
    """

    def __init__(
        self,
        api_client: Any,
        *,
        qps: float = 20.0,
        burst: int = 30,
        field_manager: str = "gitflagger",
        event_instance: str | None = None,
    ) -> None:
        self.api_client = api_client
        self.field_manager = field_manager
        self.limiter = TokenBucket(qps, burst)
        self.transport = Transport(api_client, self.limiter)
        self.resources = ResourceMap(self.transport)
        self._events = EventRecorder(self.transport, instance=event_instance or socket.gethostname())
        self.caches: CacheSet | None = None
        self._applier = Applier(
            self.transport,
            self.resources,
            field_manager,
            read=self._get_raw,
            list_items=self._list_items,
        )

    @classmethod
    def connect(cls, kubeconfig: str | None, context: str | None = None, **kw: Any) -> KubeCluster:
        """The cluster kubectl would reach: ``--kubeconfig``, else ``$KUBECONFIG``, else
        ``~/.kube/config``, else the pod's service account (:func:`.config.find_cluster`)."""
        source = find_cluster(kubeconfig, context)
        assert source is not None  # required=True never returns None
        return cls.from_source(source, **kw)

    @classmethod
    def from_source(cls, source: ClusterSource, **kw: Any) -> KubeCluster:
        return cls(api_client(source), **kw)

    def close(self) -> None:
        self.stop_caches()
        self.api_client.close()

    # ---- caches ------------------------------------------------------------------------------------
    def start_caches(
        self, namespace: str | None, *, watch_timeout: int = 300, provider: str = DEFAULT_PROVIDER
    ) -> CacheSet:
        """Start watch caches of :func:`cached_kinds` in ``namespace`` (None: all) and serve reads from them.

        Until a cache has synced, its kind is read by name as before; callers
        wait with :meth:`CacheSet.wait_synced` before the first step. From
        then on, :meth:`apply` skips objects that cannot change and applies
        the others once, without a dry-run.
        """
        if self.caches is not None:
            return self.caches
        kinds = cached_kinds(provider)
        self._make_room_for_watches(len(kinds) + 1)
        self.caches = CacheSet(self.transport, kinds, namespace or "", watch_timeout=watch_timeout)
        self._applier.use_caches(self.caches)
        return self.caches.start()

    def stop_caches(self) -> None:
        if self.caches is not None:
            self.caches.stop()

    def _make_room_for_watches(self, watches: int) -> None:
        """Each open watch holds a pooled connection; keep room for the requests beside them."""
        pool = getattr(getattr(self.api_client, "rest_client", None), "pool_manager", None)
        kw = getattr(pool, "connection_pool_kw", None)
        if pool is None or not isinstance(kw, dict):
            return
        wanted = watches + 8
        if int(kw.get("maxsize") or 1) < wanted:
            kw["maxsize"] = wanted
            pool.clear()  # pools are made again, with the new size, at their next request

    @property
    def requests_made(self) -> int:
        """Every HTTP request sent so far (watches and discovery included)."""
        return self.transport.requests_made

    @property
    def writes_made(self) -> int:
        """Requests that could change the cluster (not GET, not dry-run)."""
        return self.transport.writes_made

    # ---- observe -----------------------------------------------------------------------------------
    def list_canaries(self, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        """All Canaries (``flagger.app/v1beta1``) in ``namespace`` (None: all) and the list's resourceVersion.

        Canaries stored as ``v1alpha3`` come back labelled ``v1beta1`` with
        their fields unchanged (the CRD has no conversion webhook), so
        ``spec.canaryAnalysis`` may appear in place of ``spec.analysis``.
        """
        return self._list(CANARIES, namespace or "")

    def watch_canaries(
        self, namespace: str | None, resource_version: str, timeout_seconds: int = 300
    ) -> Watch:
        """Canary changes after ``resource_version`` (:class:`Watch`) for about ``timeout_seconds``.

        The request is sent before this returns; the server ends the watch
        after ``timeout_seconds``, then watch again from ``Watch.resource_version``.
        """
        ns = namespace or ""
        what = CANARIES.describe("watch", ns)
        query = [
            ("watch", "1"),
            ("resourceVersion", resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(timeout_seconds)),
        ]
        lines = self.transport.stream(
            CANARIES.path(ns), what=what, query=query, read_timeout=timeout_seconds + 30
        )
        return Watch(
            lines,
            resource_version=resource_version,
            api_version=CANARIES.api_version,
            kind=CANARIES.kind,
            what=what,
        )

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist; from a synced watch cache when there is one."""
        resource = self.resources.resolve(api_version, kind)
        cache = self._cache(resource, namespace)
        obj = cache.get(namespace, name) if cache is not None else self._get_raw(resource, namespace, name)
        return None if obj is None else strip_managed_fields(obj)

    def list_objects(
        self, api_version: str, kind: str, namespace: str | None, label_selector: str | None = None
    ) -> list[dict[str, Any]]:
        return self._list(self.resources.resolve(api_version, kind), namespace or "", label_selector)[0]

    def get_configs(
        self, namespace: str, names: Iterable[tuple[str, str]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        """``(configmaps, secrets)`` by name for ``("configmap"|"secret", name)`` pairs; missing: omitted.

        ConfigMaps come from the watch cache when it serves; Secrets are always
        one GET per name, never a list: the RBAC then needs no namespace-wide
        Secret read (issue 5, part 7).
        """
        found: dict[str, dict[str, dict[str, Any]]] = {"configmap": {}, "secret": {}}
        for kind, name in dict.fromkeys(names):
            if kind not in CONFIG_KINDS:
                raise ValueError(f"config kind must be 'configmap' or 'secret', got {kind!r}")
            cache = self._cache(CONFIG_KINDS[kind], namespace)
            obj = cache.get(namespace, name) if cache is not None else self._get_raw(
                CONFIG_KINDS[kind], namespace, name
            )
            if obj is not None:
                found[kind][name] = strip_managed_fields(obj)
        return found["configmap"], found["secret"]

    # ---- apply -------------------------------------------------------------------------------------
    def apply(
        self,
        manifests: Sequence[Manifest | Mapping[str, Any]],
        *,
        dry_run: bool = False,
        autoscaled: Iterable[str] = (),
    ) -> list[ApplyResult]:
        """Server-side apply what differs from live, in dependency order; see :class:`Applier`.

        ``autoscaled`` names Deployments (in any namespace of the batch) whose
        ``spec.replicas`` an HPA manages. With ``dry_run`` nothing is written:
        every result shows what a real apply would change. The first failure
        raises; the objects before it stay applied (a re-run is idempotent).
        """
        return self._applier.apply(manifests, dry_run=dry_run, autoscaled=autoscaled)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        """Set a Deployment's replicas through its ``scale`` subresource (the target between rollouts)."""
        self.transport.request(
            "PATCH",
            DEPLOYMENTS.path(namespace, name, "scale"),
            query=[("fieldManager", self.field_manager)],
            body={"spec": {"replicas": replicas}},
            content_type=MERGE_PATCH,
            what=DEPLOYMENTS.describe("scale", namespace, name),
        )

    def annotate(
        self, api_version: str, kind: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> None:
        """Merge ``annotations`` into an object's (the Flux nudge, :mod:`gitflagger.engine.flux`)."""
        resource = self.resources.resolve(api_version, kind)
        self.transport.request(
            "PATCH",
            resource.path(namespace, name),
            query=[("fieldManager", self.field_manager)],
            body={"metadata": {"annotations": dict(annotations)}},
            content_type=MERGE_PATCH,
            what=resource.describe("annotate", namespace, name),
        )

    def managed_fields(self, api_version: str, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        """The object's ``managedFields``, read by name (the caches keep only a summary of them)."""
        obj = self._get_raw(self.resources.resolve(api_version, kind), namespace, name)
        return list(_meta(obj or {}).get("managedFields") or ())

    def patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """JSON merge patch a user's object (a DaemonSet's node selector, a ScaledObject's pause
        annotation); ``None`` values remove keys. Only the fields in ``body`` change hands."""
        resource = self.resources.resolve(api_version, kind)
        answer = self.transport.request(
            "PATCH",
            resource.path(namespace, name),
            query=[("fieldManager", self.field_manager)],
            body=dict(body),
            content_type=MERGE_PATCH,
            what=resource.describe("patch", namespace, name),
        )
        return strip_managed_fields(answer)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete an object (dependents in the background); one that is already gone is fine."""
        resource = self.resources.resolve(api_version, kind)
        with contextlib.suppress(NotFound):
            self.transport.request(
                "DELETE",
                resource.path(namespace, name),
                query=[("propagationPolicy", "Background")],
                what=resource.describe("delete", namespace, name),
            )

    # ---- report ------------------------------------------------------------------------------------
    def patch_canary_status(self, canary: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``status`` into the Canary's status subresource; return the updated Canary.

        The patch carries the Canary's resourceVersion (and uid), so a write
        racing another is refused; then the Canary is read again and the same
        status is applied on top, up to :data:`CONFLICT_RETRIES` times. Keys of
        ``status`` set to None are removed (JSON merge patch). A Canary deleted
        and re-created under the same name in between is :class:`NotFound`,
        never patched by mistake.
        """
        resource = self._canary_resource(canary)

        def patch(current: Mapping[str, Any]) -> dict[str, Any] | None:
            return {"status": dict(status)}

        return self._patch_with_retries(resource, canary, patch, subresource="status", verb="patch status")

    def add_finalizer(self, canary: Mapping[str, Any], name: str) -> dict[str, Any]:
        """Add finalizer ``name`` (no request when present); return the Canary."""

        def patch(current: Mapping[str, Any]) -> dict[str, Any] | None:
            finalizers = list(_meta(current).get("finalizers") or ())
            return None if name in finalizers else {"metadata": {"finalizers": [*finalizers, name]}}

        return self._patch_with_retries(self._canary_resource(canary), canary, patch, verb="add finalizer")

    def remove_finalizer(self, canary: Mapping[str, Any], name: str) -> dict[str, Any]:
        """Remove finalizer ``name``; return the Canary (as given, minus the finalizer, if already gone)."""

        def patch(current: Mapping[str, Any]) -> dict[str, Any] | None:
            finalizers = list(_meta(current).get("finalizers") or ())
            if name not in finalizers:
                return None
            return {"metadata": {"finalizers": [f for f in finalizers if f != name]}}

        try:
            return self._patch_with_retries(
                self._canary_resource(canary), canary, patch, verb="remove finalizer"
            )
        except NotFound:
            gone = strip_managed_fields(copy.deepcopy(dict(canary)))
            gone["metadata"] = {
                **_meta(canary),
                "finalizers": [f for f in _meta(canary).get("finalizers") or () if f != name],
            }
            return gone

    def emit_event(
        self, canary: Mapping[str, Any], message: str, *, warning: bool = False, reason: str = "Synced"
    ) -> None:
        """A ``core/v1`` Event on the Canary, as Flagger writes it (see :mod:`.events`)."""
        self._events.emit(canary, message, warning=warning, reason=reason)

    # ---- internals ---------------------------------------------------------------------------------
    def _canary_resource(self, canary: Mapping[str, Any]) -> Resource:
        api_version = str(canary.get("apiVersion") or CANARIES.api_version)
        return Resource(api_version, CANARIES.kind, CANARIES.plural, True)

    def _cache(self, resource: Resource, namespace: str) -> ObjectCache | None:
        if self.caches is None:
            return None
        return self.caches.cache(resource.api_version, resource.kind, namespace)

    def _list_items(self, resource: Resource, namespace: str) -> list[dict[str, Any]]:
        cache = self._cache(resource, namespace)
        return cache.items(namespace) if cache is not None else self._list(resource, namespace)[0]

    def _get_raw(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.transport.request(
                "GET", resource.path(namespace, name), what=resource.describe("get", namespace, name)
            )
        except NotFound:
            return None

    def _list(
        self, resource: Resource, namespace: str, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        query = [("limit", str(PAGE_SIZE))] + ([("labelSelector", label_selector)] if label_selector else [])
        token, version = "", ""
        while True:
            page = self.transport.request(
                "GET",
                resource.path(namespace),
                query=[*query, *([("continue", token)] if token else [])],
                what=resource.describe("list", namespace),
            )
            version = version or str(_meta(page).get("resourceVersion", ""))
            for item in page.get("items") or ():
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                items.append(strip_managed_fields(item))
            token = str(_meta(page).get("continue") or "")
            if not token:
                return items, version

    def _patch_with_retries(
        self,
        resource: Resource,
        obj: Mapping[str, Any],
        make_patch: Callable[[Mapping[str, Any]], dict[str, Any] | None],
        *,
        verb: str,
        subresource: str = "",
    ) -> dict[str, Any]:
        """Merge-patch with a resourceVersion precondition; on a lost race, re-read and patch again."""
        meta = _meta(obj)
        namespace, name, uid = str(meta.get("namespace", "")), str(meta.get("name", "")), meta.get("uid")
        what = resource.describe(verb, namespace, name)
        current: Mapping[str, Any] = obj
        for _ in range(CONFLICT_RETRIES):
            body = make_patch(current)
            if body is None:
                return strip_managed_fields(copy.deepcopy(dict(current)))
            precondition = {"resourceVersion": _meta(current).get("resourceVersion")}
            if uid:
                precondition["uid"] = uid
            body["metadata"] = {**body.get("metadata", {}), **{k: v for k, v in precondition.items() if v}}
            try:
                return strip_managed_fields(
                    self.transport.request(
                        "PATCH",
                        resource.path(namespace, name, subresource),
                        body=body,
                        query=[("fieldManager", self.field_manager)],
                        content_type=MERGE_PATCH,
                        what=what,
                    )
                )
            except Conflict:
                fresh = self._get_raw(resource, namespace, name)
                if fresh is None or (uid and _meta(fresh).get("uid") != uid):
                    raise NotFound(
                        f"{what}: the object was deleted (or replaced) meanwhile", status=404
                    ) from None
                current = fresh
        raise Conflict(f"{what}: still conflicting after {CONFLICT_RETRIES} attempts", status=409)
