"""What the engine needs from a cluster and from the config repo, as Protocols: the pipeline's seams.

:class:`ClusterPort` and :class:`WatchPort` are the cluster; :class:`RecordPort`
and :class:`IntentPort` are the config repo (see the end of this module).

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
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from gitflagger.adapters.git.intents import PendingIntent
from gitflagger.adapters.git.recorder import Persisted, RecordedStep, RecordResult
from gitflagger.adapters.git.trailers import StepTrailers
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

    def patch(
        self, api_version: str, kind: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> Any:
        """A JSON merge patch of one object (``None`` removes a key)."""

    def patch_canary_status(self, canary: Mapping[str, Any], status: Mapping[str, Any]) -> Obj: ...

    def emit_event(
        self, canary: Mapping[str, Any], message: str, *, warning: bool = False, reason: str = "Synced"
    ) -> Any: ...

    def add_finalizer(self, canary: Mapping[str, Any], name: str) -> Obj: ...

    def remove_finalizer(self, canary: Mapping[str, Any], name: str) -> Obj: ...


class GitOpsPort(Protocol):
    """What git-only mode needs of the cluster to work with Flux (:mod:`gitflagger.engine.flux`)."""

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None: ...

    def list_objects(self, api_version: str, kind: str, namespace: str | None) -> list[Obj]: ...

    def annotate(
        self, api_version: str, kind: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> None:
        """Merge ``annotations`` into the object's (a merge patch; nothing else is touched)."""

    def managed_fields(self, api_version: str, kind: str, namespace: str, name: str) -> list[Obj]:
        """The object's ``managedFields`` entries as the API server holds them (empty when it is gone)."""


class WatchPort(ClusterPort, Protocol):
    """A cluster the controller can list and watch Canaries on."""

    def list_canaries(self, namespace: str | None) -> tuple[list[Obj], str]: ...

    def watch_canaries(
        self, namespace: str | None, resource_version: str, timeout_seconds: int = 300
    ) -> Iterable[tuple[str, Obj]]: ...


class IntentPort(Protocol):
    """What the engine reads back from the config repo: operators' intents and the latest recorded step.

    :class:`gitflagger.adapters.git.intent_store.IntentStore` is the implementation.
    """

    def read(self, canary: str) -> PendingIntent | None:
        """The intent waiting for ``namespace/name``, if any."""

    def acknowledge(self, pending: PendingIntent, outcome: str, *, now: datetime | None = None) -> str | None:
        """Commit the intent's removal with an ``Intent-Handled:`` trailer; the commit id."""

    def recorded_status(self, canary: str) -> dict[str, Any] | None:
        """The status the Canary's latest recorded step wrote (a Canary restored without status)."""

    def committed(self, canary: str, file: str) -> dict[str, Any] | None:
        """One object as the latest recorded step committed it (git-only mode compares the live one)."""


@runtime_checkable
class RecordPort(Protocol):
    """The record stage as the engine drives it, one pass at a time.

    ``sync`` (fetch) → ``begin`` → ``record``... → ``persist`` (one pack, one
    branch update) → ``publish`` (the remote holds it) → apply the steps →
    ``flush`` (end of pass: push what is left, maintenance). ``discard`` drops
    an open batch nothing acted on. ``published_step`` and
    ``latest_published_step`` are what a restart checks the live state against,
    and ``intents`` the repo's operator intents and latest recorded steps.

    Every implementation has every operation, a no-op where it does not apply
    (a local repository has nothing to fetch or push; a dry run writes nothing),
    so the engine never asks which one it has:
    :class:`~gitflagger.adapters.git.recorder.GitRecorder`,
    :class:`~gitflagger.adapters.git.remote_recorder.RemoteRecorder`,
    :class:`~gitflagger.adapters.git.dryrun.DryRunRecorder`.
    """

    @property
    def push_retries(self) -> int:
        """Lost push races so far (``gitflagger_push_retries_total``)."""

    def sync(self) -> None:
        """Bring the repo up to its remote before a pass, so intents pushed since are seen."""

    def begin(self) -> None:
        """Open a batch: the following records stay in memory until :meth:`persist`."""

    def record(self, step: RecordedStep) -> RecordResult:
        """Commit one step (into the open batch, if any); skip a duplicate or unchanged one."""

    def persist(self) -> Persisted:
        """Make the open batch durable; what became of its provisional commit ids."""

    def publish(self, persisted: Persisted) -> Persisted:
        """Make a persisted batch safe to act on (a remote holds it); raises when it cannot."""

    def discard(self) -> None:
        """Forget the open batch: nothing acted on its commits."""

    def flush(self) -> None:
        """End a pass: publish what is left and run maintenance when due."""

    def published_step(self, commit: str) -> StepTrailers | None:
        """The step ``commit`` records, if the published branch (the remote's) holds it."""

    def latest_published_step(self, namespace: str, name: str) -> tuple[str, StepTrailers] | None:
        """The newest step of a Canary on the published branch: its commit id and trailers."""

    def intents(self) -> IntentPort | None:
        """The repo's intents and latest steps; ``None`` for a recorder that writes nothing (a dry run)."""
