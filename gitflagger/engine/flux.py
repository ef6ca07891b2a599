"""git-only mode with Flux applying: which Flux objects carry a Canary, the nudge, and Flux's verdict.

In ``--apply-mode git-only`` a step is a commit; Flux's kustomize-controller
applies it. Waiting for Flux's own interval would make every step as slow as
that interval, so after a push gitflagger asks for a reconcile at once, the
way ``flux reconcile source git`` and ``flux reconcile kustomization`` do: it
sets the ``reconcile.fluxcd.io/requestedAt`` annotation on the GitRepository
and on the Kustomization that covers the Canary's directory (ARCHITECTURE.md,
*Apply*, git-only).

Those two come from ``--flux-kustomization`` and ``--flux-source``, or are
discovered: the Kustomizations whose ``spec.path`` covers
``<prefix>/<namespace>/<canary>`` (the path itself or a parent), the most
specific one, and the GitRepository it names. Ties are broken by nobody: a
Canary covered by two equally specific Kustomizations, or by none, gets one
Warning event naming what was found, never a silent no-op.

Flux's verdict is read from the Kustomization's ``Ready`` condition: ``False``
(a failed build, apply or health check) holds the step back and is said on the
Canary as a Warning with Flux's message.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gitflagger.engine.ports import GitOpsPort, Obj
from gitflagger.errors import GitflaggerError

GIT_REPOSITORY = ("source.toolkit.fluxcd.io/v1", "GitRepository")
KUSTOMIZATION = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
"""Flux's "reconcile now" annotation (fluxcd/pkg ``meta.ReconcileRequestAnnotation``)."""
GITOPS_MANAGER = "kustomize-controller"
"""The field manager Flux applies with: the expected owner of everything in the config repo."""


@dataclass(frozen=True, order=True)
class FluxRef:
    """One Flux object, ``namespace/name``."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, option: str) -> FluxRef:
        """``NS/NAME`` as a flag gives it; anything else is a ``ValueError`` naming ``option``."""
        namespace, slash, name = text.partition("/")
        if not slash or not namespace or not name or "/" in name:
            raise ValueError(f"{option}: expected NAMESPACE/NAME, got {text!r}")
        return cls(namespace, name)


@dataclass(frozen=True)
class Carrier:
    """The Flux objects that apply one Canary's directory, or why there are none."""

    kustomization: FluxRef | None
    source: FluxRef | None
    problem: str = ""


@dataclass
class Flux:
    """Finds, nudges and reads the Flux objects of the Canaries (one per controller)."""

    cluster: GitOpsPort
    prefix: str
    kustomization: FluxRef | None = None
    """``--flux-kustomization``: used for every Canary instead of discovery."""
    source: FluxRef | None = None
    """``--flux-source``: the GitRepository; else the one the Kustomization names."""
    namespace: str | None = None
    """Where Kustomizations are listed for discovery (``--namespace``; None: every namespace)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _listed: list[Obj] | None = None
    _carriers: dict[str, Carrier] = field(default_factory=dict)
    _read: dict[tuple[str, FluxRef], Obj | None] = field(default_factory=dict)
    """Flux objects read by name this pass (one GET each per pass, however many Canaries)."""
    _wanted: set[tuple[str, str, FluxRef]] = field(default_factory=set)
    _asked: dict[tuple[str, FluxRef], str] = field(default_factory=dict)
    """``(kind, object)`` → the ``requestedAt`` token of our last nudge of it."""

    def new_pass(self) -> None:
        """Forget what the last pass found (Kustomizations are listed once per pass)."""
        self._listed = None
        self._carriers.clear()
        self._read.clear()

    def carrier(self, namespace: str, name: str) -> Carrier:
        """The Kustomization covering ``<prefix>/<namespace>/<name>`` and its GitRepository."""
        directory = posixpath.join(self.prefix.strip("/"), namespace, name).lstrip("/")
        if directory not in self._carriers:
            self._carriers[directory] = self._find(directory)
        return self._carriers[directory]

    def _find(self, directory: str) -> Carrier:
        if self.kustomization is not None:
            kustomization = self.kustomization
        else:
            try:
                found = self._covering(directory)
            except GitflaggerError as err:
                return Carrier(None, self.source, f"cannot list Flux Kustomizations: {err}")
            if len(found) != 1:
                names = ", ".join(str(ref) for ref, _ in found) or "none"
                what = "several Kustomizations cover" if found else "no Flux Kustomization covers"
                where = f"namespace {self.namespace}" if self.namespace else "every namespace"
                return Carrier(None, self.source, (
                    f"{what} {directory} (found: {names}; looked in {where}); "
                    "set --flux-kustomization NAMESPACE/NAME: "
                    "until then Flux applies each step at its own interval"))
            kustomization = found[0][0]
        return Carrier(kustomization, self.source or self._source_of(kustomization))

    def want_nudge(self, carrier: Carrier) -> None:
        """Ask for a reconcile of ``carrier``'s objects at the next :meth:`nudge`."""
        if carrier.source is not None:
            self._wanted.add((*GIT_REPOSITORY, carrier.source))
        if carrier.kustomization is not None:
            self._wanted.add((*KUSTOMIZATION, carrier.kustomization))

    def nudge(self) -> list[str]:
        """Annotate every wanted object once (sources first, so the Kustomization sees the new
        artifact); the failures, one line each. Called after the pushes it follows."""
        wanted, self._wanted = sorted(self._wanted, key=lambda w: (w[1] != "GitRepository", w[2])), set()
        stamp = self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        failures = []
        for api_version, kind, ref in wanted:
            try:
                self.cluster.annotate(api_version, kind, ref.namespace, ref.name, {REQUESTED_AT: stamp})
                self._asked[(kind, ref)] = stamp
            except GitflaggerError as err:
                failures.append(f"asking Flux to reconcile {kind} {ref}: {err}")
        return failures

    def failure(self, carrier: Carrier) -> str:
        """Flux's message when the Kustomization's ``Ready`` condition is ``False``; else empty.

        A ``Ready=False`` counts only once it is about what gitflagger pushed:
        the GitRepository and the Kustomization have handled gitflagger's last
        nudge of each (``status.lastHandledReconcileAt``), and the Kustomization
        attempted the GitRepository's artifact (``lastAttemptedRevision``).
        Before that it is about an older revision (a prefix not fetched yet is
        "path not found"), and the step simply waits for the live objects.
        """
        if carrier.kustomization is None:
            return ""
        ref = carrier.kustomization
        try:
            obj = self._object(KUSTOMIZATION, ref)
            source = self._object(GIT_REPOSITORY, carrier.source) if carrier.source is not None else None
        except GitflaggerError as err:
            return f"cannot read Flux Kustomization {ref} or its source: {err}"
        if obj is None:
            return f"Flux Kustomization {ref} does not exist"
        ready = _condition(obj, "Ready")
        if ready is None or ready.get("status") != "False":
            return ""
        if not self._handled(KUSTOMIZATION[1], ref, obj):
            return ""
        if source is not None and carrier.source is not None:
            artifact = ((source.get("status") or {}).get("artifact") or {}).get("revision")
            attempted = (obj.get("status") or {}).get("lastAttemptedRevision")
            if not self._handled(GIT_REPOSITORY[1], carrier.source, source) or attempted != artifact:
                return ""
        reason = ready.get("reason") or "NotReady"
        return f"Flux Kustomization {ref} failed ({reason}): {ready.get('message') or ''}".rstrip(": ")

    def _covering(self, directory: str) -> list[tuple[FluxRef, int]]:
        """The most specific Kustomizations whose ``spec.path`` is ``directory`` or a parent of it."""
        if self._listed is None:
            self._listed = self.cluster.list_objects(*KUSTOMIZATION, self.namespace)
        best: list[tuple[FluxRef, int]] = []
        for obj in self._listed:
            path = _normal(str((obj.get("spec") or {}).get("path") or ""))
            if path and directory != path and not directory.startswith(path + "/"):
                continue
            depth = len(path.split("/")) if path else 0
            meta = obj.get("metadata") or {}
            ref = FluxRef(str(meta.get("namespace", "")), str(meta.get("name", "")))
            if not best or depth > best[0][1]:
                best = [(ref, depth)]
            elif depth == best[0][1]:
                best.append((ref, depth))
        return sorted(best)

    def _source_of(self, kustomization: FluxRef) -> FluxRef | None:
        try:
            obj = self._object(KUSTOMIZATION, kustomization)
        except GitflaggerError:
            return None  # failure() says why at the same pass
        source = ((obj or {}).get("spec") or {}).get("sourceRef") or {}
        if source.get("kind") != "GitRepository" or not source.get("name"):
            return None
        return FluxRef(str(source.get("namespace") or kustomization.namespace), str(source["name"]))


    def _object(self, kind: tuple[str, str], ref: FluxRef) -> Obj | None:
        if (kind[1], ref) not in self._read:
            self._read[(kind[1], ref)] = self.cluster.get(*kind, ref.namespace, ref.name)
        return self._read[(kind[1], ref)]

    def _handled(self, kind: str, ref: FluxRef, obj: Mapping[str, Any]) -> bool:
        """Flux handled our last nudge of ``obj`` (or we never nudged it)."""
        asked = self._asked.get((kind, ref))
        return asked is None or (obj.get("status") or {}).get("lastHandledReconcileAt") == asked


def _normal(path: str) -> str:
    """``./clusters/prod/`` → ``clusters/prod``; the repo root is ``""``."""
    cleaned = posixpath.normpath("/" + path.strip()).strip("/")
    return "" if cleaned == "." else cleaned


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def other_managers(entries: Iterable[Mapping[str, Any]], *mine: str) -> list[Mapping[str, Any]]:
    """managedFields entries of managers other than ``mine`` (Flux's and gitflagger's), newest first."""
    others = [e for e in entries if isinstance(e, Mapping) and e.get("manager") not in mine]
    return sorted(others, key=lambda e: str(e.get("time") or ""), reverse=True)


def sets_replicas(entries: Iterable[Mapping[str, Any]], manager: str = GITOPS_MANAGER) -> bool:
    """``manager`` applies ``spec.replicas`` (the target's manifest in git sets it)."""
    for entry in entries:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            spec = (entry.get("fieldsV1") or {}).get("f:spec") or {}
            if isinstance(spec, Mapping) and "f:replicas" in spec:
                return True
    return False
