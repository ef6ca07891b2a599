"""Watch-backed caches: client-go's informers without the handlers, for the objects a step reads.

Each :class:`ObjectCache` lists one kind in one scope (a namespace, or the
whole cluster), then watches from the list's resourceVersion and keeps its
store up to date:

* a watch the server ends (``timeoutSeconds``) is opened again from the newest
  resourceVersion seen, bookmarks included, so a quiet kind never falls out
  of the API server's watch window;
* a watch that breaks (connection refused or reset, the API server restarting)
  is opened again after a backoff (1 s doubling to 30 s), from the same
  resourceVersion;
* ``410 Gone`` (the resourceVersion was compacted away) lists again, and the
  new list replaces the store: objects deleted meanwhile disappear.

The store only moves forward: an object is replaced only by a version that is
not older (resourceVersions compared as numbers), so the answer to one of our
own writes, put in with :meth:`ObjectCache.observe`, is never undone by the
late watch event of an earlier version.

Memory: objects are stored trimmed (:func:`trim`) and as compressed compact
JSON, a few hundred bytes to a few KB each instead of tens of KB of Python
dicts, and every read decodes a fresh copy, so a caller can never change what
the cache holds. Secrets are never cached: the RBAC has no Secret list or
watch, by design.

A kind the API server does not serve (the mesh's CRDs are not installed) or
that the RBAC does not let us list is not an error: the cache falls back (:attr:`ObjectCache.serving`
is False, reads go to the API server by name), reports ready, and tries to
list again every few minutes.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from gitflagger.adapters.kube.errors import Forbidden, NotFound, WatchExpired
from gitflagger.adapters.kube.resources import Resource
from gitflagger.adapters.kube.transport import Transport
from gitflagger.adapters.kube.watch import Watch
from gitflagger.errors import GitflaggerError

__all__ = ["CacheSet", "ObjectCache", "newer_or_same", "summarize_managed_fields", "trim"]

PAGE_SIZE = 100
"""Objects per list request. A page is held decoded until it is packed, and the heap it leaves
behind is not all given back: at 2,000 Deployments, pages of 500 left the process 16 MB bigger
than pages of 100 (a list is rare: at start and after a 410)."""
WATCH_TIMEOUT = 300
BACKOFF_MIN = 1.0
BACKOFF_MAX = 30.0
FALLBACK_RETRY = 300.0
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def summarize_managed_fields(entries: object) -> list[dict[str, Any]]:
    """What the apply rules read of ``managedFields``: each manager, its operation, and
    whether it owns ``spec.replicas`` (see :mod:`.apply_rules`). Everything else is dropped.

    >>> summarize_managed_fields([{"manager": "gitflagger", "operation": "Apply", "time": "t",
    ...     "fieldsV1": {"f:spec": {"f:replicas": {}, "f:template": {}}}}])
    [{'manager': 'gitflagger', 'operation': 'Apply', 'fieldsV1': {'f:spec': {'f:replicas': {}}}}]
    """
    out: list[dict[str, Any]] = []
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, Mapping):
            continue
        item: dict[str, Any] = {"manager": entry.get("manager"), "operation": entry.get("operation")}
        spec = (entry.get("fieldsV1") or {}).get("f:spec")
        if isinstance(spec, Mapping) and "f:replicas" in spec:
            item["fieldsV1"] = {"f:spec": {"f:replicas": {}}}
        if item not in out:
            out.append(item)
    return out


def trim(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as cached (in place; returned for chaining).

    ``managedFields`` shrink to :func:`summarize_managed_fields`, and kubectl's
    last-applied annotation (often the largest part of an object) goes: the
    drift comparison (:func:`.apply_rules.comparable`) ignores it anyway.
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        if "managedFields" in meta:
            meta["managedFields"] = summarize_managed_fields(meta["managedFields"])
        annotations = meta.get("annotations")
        if isinstance(annotations, dict) and LAST_APPLIED in annotations:
            del annotations[LAST_APPLIED]
            if not annotations:
                del meta["annotations"]
    return obj


def newer_or_same(candidate: str, held: str) -> bool:
    """``candidate`` is not older than ``held`` (numbers when both are; otherwise trust the newcomer).

    >>> newer_or_same("12", "9"), newer_or_same("9", "12"), newer_or_same("x", "12")
    (True, False, True)
    """
    if candidate.isdigit() and held.isdigit():
        return int(candidate) >= int(held)
    return True


def _version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _pack(obj: Mapping[str, Any]) -> bytes:
    return zlib.compress(json.dumps(obj, separators=(",", ":")).encode(), 1)


def _unpack(blob: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(zlib.decompress(blob))
    return doc


@dataclass(frozen=True)
class _Entry:
    version: str
    blob: bytes


class ObjectCache:
    """One kind in one scope (``namespace`` ``""``: all namespaces), kept by list + watch. Thread-safe.

    :meth:`run` is the loop (a thread of its own); reads are :meth:`get`,
    :meth:`items` and :meth:`version_of`, valid once :attr:`serving`.
    """

    def __init__(
        self,
        transport: Transport,
        resource: Resource,
        namespace: str = "",
        *,
        watch_timeout: int = WATCH_TIMEOUT,
    ) -> None:
        self.transport = transport
        self.resource = resource
        self.namespace = namespace
        self.watch_timeout = watch_timeout
        self.synced = threading.Event()
        """Set once the first list succeeded, or the kind fell back to reads by name."""
        self.fallback = False
        """The kind cannot be listed (not served, or not allowed): reads go to the API server."""
        self.lists = 0
        """List requests sent (pages), the initial list included."""
        self.watches = 0
        """Watch requests opened."""
        self.relists = 0
        """Lists after the first one (410 Gone, or retrying a fallback)."""
        self._store: dict[tuple[str, str], _Entry] = {}
        self._lock = threading.Lock()
        self._version = ""
        self._stream: Watch | None = None
        self._log = structlog.get_logger("gitflagger").bind(component="cache", kind=resource.label)

    # ---- reads -------------------------------------------------------------------------------------
    @property
    def serving(self) -> bool:
        """Reads may be answered from this cache: it has synced and has not fallen back."""
        return self.synced.is_set() and not self.fallback

    def covers(self, namespace: str) -> bool:
        return not self.namespace or self.namespace == namespace

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A fresh copy of the cached object (trimmed, see :func:`trim`), or None."""
        with self._lock:
            entry = self._store.get((namespace, name))
        return None if entry is None else _unpack(entry.blob)

    def version_of(self, namespace: str, name: str) -> str | None:
        with self._lock:
            entry = self._store.get((namespace, name))
        return None if entry is None else entry.version

    def items(self, namespace: str = "") -> list[dict[str, Any]]:
        """Copies of every cached object in ``namespace`` (``""``: all)."""
        with self._lock:
            entries = [e for (ns, _), e in self._store.items() if not namespace or ns == namespace]
        return [_unpack(e.blob) for e in entries]

    def __len__(self) -> int:
        with self._lock:
            return len(self._store)

    @property
    def stored_bytes(self) -> int:
        with self._lock:
            return sum(len(e.blob) for e in self._store.values())

    # ---- writes ------------------------------------------------------------------------------------
    def observe(self, obj: dict[str, Any]) -> None:
        """Put ``obj`` in (trimmed in place) unless the store holds a newer version: a write's answer."""
        obj.setdefault("apiVersion", self.resource.api_version)
        obj.setdefault("kind", self.resource.kind)
        self._put(trim(obj))

    def _put(self, obj: dict[str, Any]) -> None:
        key, version = _key(obj), _version(obj)
        blob = _pack(obj)
        with self._lock:
            held = self._store.get(key)
            if held is None or newer_or_same(version, held.version):
                self._store[key] = _Entry(version, blob)

    def _delete(self, obj: Mapping[str, Any]) -> None:
        key, version = _key(obj), _version(obj)
        with self._lock:
            held = self._store.get(key)
            if held is not None and newer_or_same(version, held.version):
                del self._store[key]

    def _replace(self, objects: Iterable[dict[str, Any]], version: str) -> None:
        """The store after a list at ``version``; entries newer than the list (our writes) stay."""
        self._swap({_key(o): _Entry(_version(o), _pack(o)) for o in objects}, version)

    def _swap(self, fresh: dict[tuple[str, str], _Entry], version: str) -> None:
        with self._lock:
            for key, held in self._store.items():
                listed = fresh.get(key)
                # Keep what is newer than the list: our own writes put in meanwhile.
                if not newer_or_same(listed.version if listed is not None else version, held.version):
                    fresh[key] = held
            self._store = fresh

    # ---- the loop ----------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """List, then watch; until ``stop`` is set. Never raises."""
        delay = BACKOFF_MIN
        while not stop.is_set():
            try:
                if not self._version:
                    self._list()
                    if stop.is_set():
                        return
                opened = time.monotonic()
                self._watch(stop)
                if time.monotonic() - opened < BACKOFF_MIN:  # ended at once: never a tight loop of watches
                    stop.wait(delay)
                    delay = min(delay * 2, BACKOFF_MAX)
                else:
                    delay = BACKOFF_MIN
            except WatchExpired:
                self._log.info("watch expired, listing again")
                self._version = ""
            except (Forbidden, NotFound) as err:
                if self._version:  # the kind was served, and no longer is: list again later
                    self._version = ""
                self._log.warning("cannot list, reading by name instead", error=str(err),
                                  retry_in=FALLBACK_RETRY)
                self.fallback = True
                self.synced.set()
                stop.wait(FALLBACK_RETRY)
            except GitflaggerError as err:  # the API server down, 5xx, 429: watch again after a pause
                if stop.is_set():
                    return
                self._log.warning("watch failed, retrying", error=str(err), retry_in=delay)
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except Exception as err:  # a bug must not kill the cache thread silently
                if stop.is_set():
                    return
                self._log.error("cache loop failed, listing again", error=f"{type(err).__name__}: {err}",
                                exc_info=err)
                self._version = ""
                stop.wait(delay)
                delay = min(delay * 2, BACKOFF_MAX)

    def close_stream(self) -> None:
        """Close the open watch, if any (so :meth:`run` notices ``stop`` at once)."""
        stream = self._stream
        if stream is not None:
            stream.close()

    def _list(self) -> None:
        # Each page is packed as it arrives and its objects freed one by one: only one page is ever
        # held decoded (see PAGE_SIZE).
        fresh: dict[tuple[str, str], _Entry] = {}
        token, version = "", ""
        while True:
            query = [("limit", str(PAGE_SIZE)), *([("continue", token)] if token else [])]
            self.lists += 1
            page = self.transport.request(
                "GET", self.resource.path(self.namespace), query=query,
                what=self.resource.describe("list", self.namespace),
            )
            meta = page.get("metadata") or {}
            version = version or str(meta.get("resourceVersion") or "")
            items = page.get("items") or []
            page.clear()
            items.reverse()  # popped from the end: in the server's order
            while items:
                item = items.pop()
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                trim(item)
                fresh[_key(item)] = _Entry(_version(item), _pack(item))
                del item  # freed one by one, not at the end of the page
            token = str(meta.get("continue") or "")
            if not token:
                break
        if self.synced.is_set() and not self.fallback:
            self.relists += 1
        self._swap(fresh, version)
        self._version = version
        self.fallback = False
        self.synced.set()
        self._log.info("listed", objects=len(fresh), resource_version=version)

    def _watch(self, stop: threading.Event) -> None:
        query = [
            ("watch", "1"),
            ("resourceVersion", self._version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(self.watch_timeout)),
        ]
        what = self.resource.describe("watch", self.namespace)
        self.watches += 1
        lines = self.transport.stream(
            self.resource.path(self.namespace), what=what, query=query, read_timeout=self.watch_timeout + 30
        )
        stream = Watch(lines, resource_version=self._version, api_version=self.resource.api_version,
                       kind=self.resource.kind, what=what, transform=trim)
        self._stream = stream
        try:
            if stop.is_set():
                return
            for kind, obj in stream:
                if kind == "DELETED":
                    self._delete(obj)
                else:
                    self._put(obj)
                self._version = stream.resource_version
                if stop.is_set():
                    return
            self._version = stream.resource_version or self._version
        finally:
            self._stream = None
            stream.close()


class CacheSet:
    """The caches of one controller: one :class:`ObjectCache` per kind, each on a thread of its own."""

    def __init__(self, transport: Transport, resources: Iterable[Resource], namespace: str = "",
                 *, watch_timeout: int = WATCH_TIMEOUT) -> None:
        self.namespace = namespace
        self.caches = {
            (r.api_version, r.kind): ObjectCache(transport, r, namespace, watch_timeout=watch_timeout)
            for r in resources
        }
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> CacheSet:
        for cache in self.caches.values():
            thread = threading.Thread(target=cache.run, args=(self._stop,), daemon=True,
                                      name=f"cache-{cache.resource.plural}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for cache in self.caches.values():
            cache.close_stream()
        for thread in self._threads:
            thread.join(timeout)

    def unhealthy(self) -> str:
        """The caches whose thread died before :meth:`stop` (``/healthz`` fails with it); empty if none.

        :meth:`ObjectCache.run` survives every exception, so a dead thread is a bug
        worth a restart: its kind would otherwise be served stale forever.
        """
        if self._stop.is_set():
            return ""
        dead = [t.name for t in self._threads if not t.is_alive()]
        return f"watch threads dead: {', '.join(dead)}" if dead else ""

    @property
    def synced(self) -> bool:
        """Every cache has listed once (or fallen back to reads by name): ``/readyz``."""
        return all(c.synced.is_set() for c in self.caches.values())

    def wait_synced(self, stop: threading.Event, poll: float = 0.2) -> bool:
        """Block until :attr:`synced` (True) or ``stop`` is set (False)."""
        while not stop.is_set():
            if self.synced:
                return True
            stop.wait(poll)
        return False

    def cache(self, api_version: str, kind: str, namespace: str) -> ObjectCache | None:
        """The cache serving ``kind`` at ``api_version`` in ``namespace`` right now, else None."""
        cache = self.caches.get((api_version, kind))
        if cache is None or not cache.serving or not cache.covers(namespace):
            return None
        return cache

    def stats(self) -> dict[str, int]:
        caches = self.caches.values()
        return {
            "objects": sum(len(c) for c in caches),
            "stored_bytes": sum(c.stored_bytes for c in caches),
            "list_requests": sum(c.lists for c in caches),
            "watch_requests": sum(c.watches for c in caches),
            "relists": sum(c.relists for c in caches),
        }

