"""Read a Canary's recorded files at the branch head, for ``gitflagger reconcile --dry-run`` diffs."""

from __future__ import annotations

import pygit2

from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.repository import branch_ref
from gitflagger.adapters.git.tree import read_directory
from gitflagger.errors import TemporaryError


def canary_files_at_head(
    repo: pygit2.Repository, namespace: str, name: str, *, branch: str = "main", prefix: str = "local"
) -> dict[str, bytes]:
    """``{file name: content}`` of ``<prefix>/<namespace>/<name>/`` at the head; empty when absent."""
    try:
        ref = repo.references.get(branch_ref(branch))
        if ref is None:
            return {}
        folder = read_directory(ref.peel(pygit2.Commit).tree, canary_directory(prefix, namespace, name))
        if folder is None:
            return {}
        return {entry.name: entry.data for entry in folder if isinstance(entry, pygit2.Blob) and entry.name}
    except pygit2.GitError as err:
        raise TemporaryError(f"git: cannot read {namespace}/{name} at {branch}: {err}") from err
