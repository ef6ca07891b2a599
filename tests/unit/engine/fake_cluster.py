"""An in-memory cluster for engine tests: the ClusterPort contract of gitflagger.engine.ports, no server.

It behaves like the parts of Kubernetes the engine relies on, and no more:

* ``apply`` stores each manifest (a changed spec bumps ``metadata.generation``)
  and reports ``changed`` the way server-side apply would;
* Deployments are "rolled out" instantly: their status always says every
  replica is updated and available, unless the name is in :attr:`unready`;
  DaemonSets likewise, with one pod on each of :attr:`nodes` nodes that their
  node selector allows;
* ``patch`` merges a JSON merge patch into the stored object;
* ``patch_canary_status`` replaces the status; ``emit_event`` records the text.

Engine tests read it back the way a user reads a cluster: what objects exist,
what the target is scaled to, which Events were emitted, in order.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitflagger.errors import TemporaryError
from gitflagger.render import Manifest
from gitflagger.render.yaml import strip_noise

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Result:
    kind: str
    namespace: str
    name: str
    changed: bool
    live_before: dict[str, Any] | None
    desired_after: dict[str, Any] | None


@dataclass(frozen=True)
class RecordedEvent:
    canary: str
    message: str
    warning: bool
    reason: str


class FakeCluster:
    def __init__(self, *objects: Mapping[str, Any]) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.events: list[RecordedEvent] = []
        self.scaled: list[tuple[str, int]] = []
        self.patched: list[tuple[str, str, dict[str, Any]]] = []
        """``(kind, name, merge patch)`` of every :meth:`patch`, in order."""
        self.nodes = 2
        """Nodes a DaemonSet runs a pod on, unless its pod template's node selector keeps it off."""
        self.unready: set[str] = set()
        self.down = False
        """Every call fails as an unreachable API server would."""
        self.applies = 0
        self.events_fail = False
        """``emit_event`` fails as an API server refusing Events would (they are best effort)."""
        self.version = 0
        self.watch_script: list[list[tuple[str, dict[str, Any]]] | Exception] = []
        """What successive ``watch_canaries`` calls deliver: a list of events, or an exception to raise."""
        self.lists = 0
        self.managed: dict[Key, list[dict[str, Any]]] = {}
        """``managedFields`` entries by object, as a test sets them (:meth:`managed_fields`)."""
        self.annotated: list[tuple[str, str, str, dict[str, str]]] = []
        """``(kind, namespace, name, annotations)`` of every :meth:`annotate`, in order."""
        for obj in objects:
            self.put(obj)

    # ---- test helpers ------------------------------------------------------------------
    def put(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        stored = copy.deepcopy(dict(obj))
        meta = stored.setdefault("metadata", {})
        meta.setdefault("generation", 1)
        meta.setdefault("uid", f"uid-{meta['name']}")
        self._bump(stored)
        self.objects[_key(stored)] = stored
        return stored

    def obj(self, kind: str, name: str, namespace: str = "test") -> dict[str, Any]:
        return self.objects[(kind, namespace, name)]

    def messages(self) -> list[str]:
        return [e.message for e in self.events]

    # ---- WatchPort ---------------------------------------------------------------------
    def list_canaries(self, namespace: str | None) -> tuple[list[dict[str, Any]], str]:
        self._check()
        self.lists += 1
        found = [copy.deepcopy(o) for (kind, ns, _), o in self.objects.items()
                 if kind == "Canary" and namespace in (None, ns)]
        return found, str(self.version)

    def watch_canaries(
        self, namespace: str | None, resource_version: str, timeout_seconds: int = 300
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        self._check()
        if not self.watch_script:
            return iter(())
        step = self.watch_script.pop(0)
        if isinstance(step, Exception):
            raise step
        return iter([(kind, copy.deepcopy(obj)) for kind, obj in step])

    # ---- ClusterPort -------------------------------------------------------------------
    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self._check()
        found = self.objects.get((kind, namespace, name))
        if found is None:
            return None
        out = copy.deepcopy(found)
        if kind == "Deployment":
            out["status"] = self._rollout(out)
        elif kind == "DaemonSet":
            out["status"] = self._daemons(out)
        return out

    def get_configs(
        self, namespace: str, names: Iterable[tuple[str, str]]
    ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
        found: dict[str, dict[str, dict[str, Any]]] = {"configmap": {}, "secret": {}}
        for kind, name in names:
            obj = self.get("v1", "ConfigMap" if kind == "configmap" else "Secret", namespace, name)
            if obj is not None:
                found[kind][name] = obj
        return found["configmap"], found["secret"]

    def apply(self, manifests: Sequence[Manifest], *, dry_run: bool = False) -> list[Result]:
        self._check()
        self.applies += 1
        out = []
        for manifest in manifests:
            desired = copy.deepcopy(manifest.obj)
            key = _key(desired)
            before = self.objects.get(key)
            changed = before is None or _content(before) != _content(desired)
            if changed and not dry_run:
                stored = copy.deepcopy(desired)
                meta = stored["metadata"]
                old_meta = (before or {}).get("metadata") or {}
                generation = int(old_meta.get("generation") or 0)
                same_spec = before is not None and before.get("spec") == desired.get("spec")
                meta["generation"] = generation if same_spec else generation + 1
                meta["uid"] = old_meta.get("uid", f"uid-{meta['name']}")
                if desired["kind"] == "Deployment" and "replicas" not in desired["spec"]:
                    stored["spec"]["replicas"] = ((before or {}).get("spec") or {}).get("replicas", 1)
                self.objects[key] = stored
            out.append(Result(desired["kind"], desired["metadata"]["namespace"], desired["metadata"]["name"],
                              changed, copy.deepcopy(before), desired))
        return out

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        self._check()
        deployment = self.objects[("Deployment", namespace, name)]
        if deployment["spec"].get("replicas") != replicas:
            deployment["spec"]["replicas"] = replicas
            deployment["metadata"]["generation"] += 1
        self.scaled.append((name, replicas))

    def patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch (RFC 7386): ``None`` removes a key; a changed spec bumps the generation."""
        self._check()
        stored = self.objects[(kind, namespace, name)]
        spec_before = copy.deepcopy(stored.get("spec"))
        _merge(stored, body)
        if stored.get("spec") != spec_before:
            stored["metadata"]["generation"] += 1
        self._bump(stored)
        self.patched.append((kind, name, copy.deepcopy(dict(body))))
        return copy.deepcopy(stored)

    def patch_canary_status(self, canary: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
        self._check()
        stored = self.objects[_key(canary)]
        stored["status"] = copy.deepcopy(dict(status))
        self._bump(stored)
        return copy.deepcopy(stored)

    def emit_event(
        self, canary: Mapping[str, Any], message: str, *, warning: bool = False, reason: str = "Synced"
    ) -> None:
        self._check()
        if self.events_fail:
            raise TemporaryError("kubernetes: events are refused")
        meta = canary["metadata"]
        self.events.append(RecordedEvent(f"{meta['namespace']}/{meta['name']}", message, warning, reason))

    def add_finalizer(self, canary: Mapping[str, Any], name: str) -> dict[str, Any]:
        stored = self.objects[_key(canary)]
        finalizers = stored["metadata"].setdefault("finalizers", [])
        if name not in finalizers:
            finalizers.append(name)
            self._bump(stored)
        return copy.deepcopy(stored)

    def remove_finalizer(self, canary: Mapping[str, Any], name: str) -> dict[str, Any]:
        stored = self.objects[_key(canary)]
        finalizers = stored["metadata"].get("finalizers") or []
        stored["metadata"]["finalizers"] = [f for f in finalizers if f != name]
        self._bump(stored)
        if stored["metadata"].get("deletionTimestamp") and not stored["metadata"]["finalizers"]:
            del self.objects[_key(canary)]
        return copy.deepcopy(stored)

    # ---- GitOpsPort --------------------------------------------------------------------
    def list_objects(self, api_version: str, kind: str, namespace: str | None) -> list[dict[str, Any]]:
        self._check()
        return [copy.deepcopy(o) for (k, ns, _), o in sorted(self.objects.items())
                if k == kind and namespace in (None, ns)]

    def annotate(
        self, api_version: str, kind: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> None:
        self._check()
        stored = self.objects[(kind, namespace, name)]
        stored["metadata"].setdefault("annotations", {}).update(annotations)
        self._bump(stored)
        self.annotated.append((kind, namespace, name, dict(annotations)))

    def managed_fields(self, api_version: str, kind: str, namespace: str, name: str) -> list[dict[str, Any]]:
        self._check()
        return copy.deepcopy(self.managed.get((kind, namespace, name), []))

    # ---- internals ---------------------------------------------------------------------
    def _bump(self, obj: dict[str, Any]) -> None:
        self.version += 1
        obj["metadata"]["resourceVersion"] = str(self.version)

    def _check(self) -> None:
        if self.down:
            raise TemporaryError("kubernetes: connection refused")

    def _daemons(self, daemonset: Mapping[str, Any]) -> dict[str, Any]:
        desired = _scheduled_nodes(daemonset, self.nodes)
        generation = daemonset["metadata"]["generation"]
        ready = 0 if daemonset["metadata"]["name"] in self.unready else desired
        return {"observedGeneration": generation, "desiredNumberScheduled": desired,
                "currentNumberScheduled": desired, "updatedNumberScheduled": ready,
                "numberAvailable": ready, "numberReady": ready}

    def _rollout(self, deployment: Mapping[str, Any]) -> dict[str, Any]:
        replicas = int(deployment["spec"].get("replicas", 1))
        generation = deployment["metadata"]["generation"]
        if deployment["metadata"]["name"] in self.unready:
            return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": 0,
                    "availableReplicas": 0}
        return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                "availableReplicas": replicas, "readyReplicas": replicas}


def _merge(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, Mapping):
            target[key] = {}
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _key(obj: Mapping[str, Any]) -> Key:
    meta = obj["metadata"]
    return (str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"]))


def _scheduled_nodes(daemonset: Mapping[str, Any], nodes: int) -> int:
    """The testbed's nodes carry no ``flagger.app/*`` label: that node selector leaves none."""
    selector = ((daemonset["spec"].get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    return 0 if any(k.startswith("flagger.app/") for k in selector) else nodes


def _content(obj: Mapping[str, Any]) -> Any:
    """What an apply can change: everything but server-side fields and status."""
    out = strip_noise(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    meta.pop("uid", None)
    meta.pop("generation", None)
    if obj.get("kind") == "Deployment":
        out.get("spec", {}).pop("replicas", None)
    return out
