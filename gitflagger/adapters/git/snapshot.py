"""Read a Canary's recorded status back from its ``canary.yaml`` at the branch head.

The controller's memory is the Canary's status subresource. When that is gone
(the Canary restored from a backup without status, the status wiped by hand)
the config repo still knows where the rollout stood: every step wrote the
status into ``canary.yaml`` beside the objects. The controller resumes from it
instead of initializing again over a running primary.

Secret checksums in ``trackedConfigs`` may be sealed in the snapshot (see
:mod:`.checksums`); a sealed value does not equal the live checksum, so a
Canary that tracks Secrets starts one new analysis after such a recovery,
which is the safe direction to err in.
"""

from __future__ import annotations

from typing import Any

import pygit2

from gitflagger.adapters.git.layout import SNAPSHOT, canary_directory
from gitflagger.adapters.git.repository import branch_ref
from gitflagger.adapters.git.tree import read_directory
from gitflagger.errors import GitflaggerError, TemporaryError
from gitflagger.model.documents import load_yaml_text


def recorded_object(
    repo: pygit2.Repository, namespace: str, name: str, file: str, *, branch: str = "main",
    prefix: str = "local",
) -> dict[str, Any] | None:
    """One committed object of the Canary's directory at the head (``deployment-podinfo-primary.yaml``)."""
    text = _file_at_head(repo, namespace, name, file, branch, prefix)
    if text is None:
        return None
    try:
        docs = load_yaml_text(text, source=f"{namespace}/{name}/{file}")
    except GitflaggerError:
        return None
    return docs[0] if docs else None


def _file_at_head(
    repo: pygit2.Repository, namespace: str, name: str, file: str, branch: str, prefix: str
) -> str | None:
    try:
        ref = repo.references.get(branch_ref(branch))
        if ref is None:
            return None
        folder = read_directory(ref.peel(pygit2.Commit).tree, canary_directory(prefix, namespace, name))
        if folder is None or file not in folder:
            return None
        blob = folder[file]
        return blob.data.decode("utf-8", errors="replace") if isinstance(blob, pygit2.Blob) else None
    except pygit2.GitError as err:
        raise TemporaryError(f"git: cannot read {namespace}/{name}/{file}: {err}") from err


def recorded_status(
    repo: pygit2.Repository, namespace: str, name: str, *, branch: str = "main", prefix: str = "local"
) -> dict[str, Any] | None:
    """The ``status`` of ``<prefix>/<namespace>/<name>/canary.yaml`` at the head; ``None`` when absent."""
    snapshot = recorded_object(repo, namespace, name, SNAPSHOT, branch=branch, prefix=prefix)
    status = snapshot.get("status") if snapshot else None
    return dict(status) if isinstance(status, dict) else None
