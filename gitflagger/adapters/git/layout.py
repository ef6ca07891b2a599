"""Where a Canary's step lives in the config repo, and what its files contain.

Layout (ARCHITECTURE.md, *The config repo*)::

    <prefix>/<namespace>/<canary>/
        canary.yaml                       the status snapshot (see :func:`snapshot_yaml`)
        deployment-podinfo-primary.yaml   one file per rendered object, <kind>-<name>.yaml
        service-podinfo.yaml
        ...

The directory belongs to gitflagger: each step writes all of it, so a file of
an object that is no longer rendered disappears with the step that stopped
rendering it. Secrets are never written; their checksums are listed in
``canary.yaml`` so a Secret change still shows up in the history, sealed with a
key (:mod:`gitflagger.adapters.git.checksums`) so they cannot be brute-forced.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from gitflagger.errors import PermanentError
from gitflagger.model.canary import Canary
from gitflagger.model.redact import redact_canary_spec, redact_metadata
from gitflagger.model.status import State
from gitflagger.render.yaml import dump_canonical

SNAPSHOT = "canary.yaml"
_SNAPSHOT_DROPPED_STATUS = ("lastCommit",)
"""``lastCommit`` names the commit that holds the snapshot, which cannot contain its own id."""


class RenderedObject(Protocol):
    """What the recorder needs of a rendered manifest (:class:`gitflagger.render.Manifest`)."""

    @property
    def path(self) -> str:
        """File name inside the canary directory: ``<kind>-<name>.yaml``, lower case."""

    @property
    def secret(self) -> bool:
        """A Secret: never written to git, only its checksum is."""

    @property
    def checksum(self) -> str:
        """``sha256:<hex>`` of the object: records that a Secret changed, not what it holds."""

    def to_yaml(self) -> str:
        """The object's canonical YAML (refused for a secret)."""


def prefix_parts(prefix: str) -> tuple[str, ...]:
    """The path components of a prefix (``clusters/eu-1`` → ``("clusters", "eu-1")``), checked."""
    return canary_directory(prefix, "namespace", "name")[:-2]


def canary_directory(prefix: str, namespace: str, name: str) -> tuple[str, ...]:
    """The path components of ``<prefix>/<namespace>/<canary>``; a prefix may have several.

    Raises :class:`PermanentError` for components that would escape the layout
    (empty, ``.``, ``..``, or a ``/`` inside a namespace or name).
    """
    parts = [p for p in prefix.strip("/").split("/") if p] if prefix else []
    for label, value in (("namespace", namespace), ("name", name)):
        if "/" in value:
            raise PermanentError(f"canary {label} {value!r} must not contain '/'")
    parts += [namespace, name]
    for part in parts:
        if part in ("", ".", "..") or part.startswith(".git"):
            raise PermanentError(f"invalid path component {part!r} in {'/'.join(parts)}")
    return tuple(parts)


Seal = Callable[[str], str]
"""Turns a Secret's plain checksum into what git may hold (:meth:`ChecksumKey.seal`)."""


def directory_files(
    canary: Canary,
    state: State,
    manifests: Iterable[RenderedObject],
    *,
    seal: Seal | None = None,
) -> dict[str, bytes]:
    """Every file of the canary directory for one step: the objects plus ``canary.yaml``.

    ``seal`` is applied to every Secret checksum (``secretChecksums`` and the
    ``secret/…`` entries of ``status.trackedConfigs``); the recorder always
    passes one. Without it the checksums stay plain, which is only fit for
    output that is never stored.
    """
    files: dict[str, bytes] = {}
    checksums: dict[str, str] = {}
    for manifest in manifests:
        name = manifest.path
        if "/" in name or name in ("", ".", "..", SNAPSHOT) or name in files or name in checksums:
            raise PermanentError(f"{canary.ref}: rendered file name {name!r} is invalid or used twice")
        if manifest.secret:
            checksums[name.removesuffix(".yaml")] = seal(manifest.checksum) if seal else manifest.checksum
        else:
            files[name] = manifest.to_yaml().encode("utf-8")
    files[SNAPSHOT] = snapshot_yaml(canary, state, checksums, seal=seal).encode("utf-8")
    return files


def snapshot_yaml(
    canary: Canary, state: State, secret_checksums: Mapping[str, str], *, seal: Seal | None = None
) -> str:
    """``canary.yaml``: enough to rebuild the Canary's state from git alone.

    The Canary as given (apiVersion, name, namespace, labels, annotations and
    spec), then ``secretChecksums`` (file stem → checksum) and ``status`` as
    :meth:`State.to_status` writes it, without ``lastCommit``: that is the
    commit holding this file, which cannot name itself. The Step-Id is not
    here: it is commit metadata (a trailer), and keeping it out of the tree
    means a step that changes nothing else leaves the tree unchanged.
    """
    raw_meta: Mapping[str, Any] = canary.raw.get("metadata") or {}
    metadata: dict[str, Any] = {"name": canary.name, "namespace": canary.namespace}
    for key in ("labels", "annotations"):
        if raw_meta.get(key):
            metadata[key] = redact_metadata(raw_meta[key])  # last-applied-configuration copies the spec
    head: dict[str, Any] = {
        "apiVersion": canary.api_version,
        "kind": "Canary",
        "metadata": metadata,
        "spec": redact_canary_spec(canary.raw.get("spec") or {}),
    }
    if secret_checksums:
        head["secretChecksums"] = dict(sorted(secret_checksums.items()))
    status = {k: v for k, v in state.to_status().items() if k not in _SNAPSHOT_DROPPED_STATUS}
    if seal is not None and isinstance(status.get("trackedConfigs"), Mapping):
        status["trackedConfigs"] = {
            k: seal(str(v)) if str(k).startswith("secret/") else v
            for k, v in status["trackedConfigs"].items()
        }
    # dump_canonical drops a top-level ``status`` (server noise on managed objects), so the
    # snapshot's status, which is the point of this file, is dumped on its own and nested.
    return dump_canonical(head) + "status:\n" + textwrap.indent(dump_canonical(status), "  ")
