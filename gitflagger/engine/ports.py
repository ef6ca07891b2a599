"""What the engine needs from a cluster, as a Protocol: the seam between the pipeline and Kubernetes.

:class:`gitflagger.adapters.kube.KubeCluster` is the real implementation. The
engine is written against this Protocol instead of the class so that the whole
reconcile pipeline runs in unit tests against an in-memory cluster (the
decision core's tables cover *what* to do; these tests cover that the engine
*does* it: the right objects applied, the right scale, the right status), and
so that a cluster adapter can change its internals without touching the engine.

Objects are plain dicts as the API server returns them, ``managedFields``
stripped. Every method raises only :mod:`gitflagger.errors` exceptions.

How a read is served is the adapter's business: the controller's
``KubeCluster`` answers :meth:`ClusterPort.get` and
:meth:`ClusterPort.get_configs` from watch caches (Secrets excepted), and its
:meth:`ClusterPort.apply` sends nothing for an object that cannot change. The
engine sees the same results either way: ``changed`` says the live object
differed from the manifest, and ``desired_after`` is the live object after
the apply (what route verification reads).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from gitflagger.render import Manifest

Obj = dict[str, Any]


class AppliedObject(Protocol):
    """One object of an apply: whether the server's copy changed (``ApplyResult`` in adapters.kube)."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def changed(self) -> bool: ...

    @property
    def live_before(self) -> Mapping[str, Any] | None: ...

    @property
    def desired_after(self) -> Mapping[str, Any] | None: ...


class ClusterPort(Protocol):
    """The cluster operations a reconcile uses; see :class:`gitflagger.adapters.kube.KubeCluster`."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def get_configs(
        self, namespace: str, names: Iterable[tuple[str, str]]
    ) -> tuple[Mapping[str, Mapping[str, Any]], Mapping[str, Mapping[str, Any]]]:
        """``(configmaps, secrets)`` by name for ``("configmap"|"secret", name)`` pairs; missing: left out."""

    def apply(self, manifests: Sequence[Manifest], *, dry_run: bool = False) -> Sequence[AppliedObject]: ...

    def scale(self, namespace: str, name: str, replicas: int) -> Any: ...

    def patch_canary_status(self, canary: Mapping[str, Any], status: Mapping[str, Any]) -> Obj: ...

    def emit_event(
        self, canary: Mapping[str, Any], message: str, *, warning: bool = False, reason: str = "Synced"
    ) -> Any: ...

    def add_finalizer(self, canary: Mapping[str, Any], name: str) -> Obj: ...

    def remove_finalizer(self, canary: Mapping[str, Any], name: str) -> Obj: ...


class WatchPort(ClusterPort, Protocol):
    """A cluster the controller can list and watch Canaries on."""

    def list_canaries(self, namespace: str | None) -> tuple[list[Obj], str]: ...

    def watch_canaries(
        self, namespace: str | None, resource_version: str, timeout_seconds: int = 300
    ) -> Iterable[tuple[str, Obj]]: ...
