"""Read a Canary's recorded steps back from the config repo, newest first.

This is the simple version: it walks the branch's first-parent history and
keeps the commits whose ``Canary:`` trailer names the Canary. It reads commit
messages only, never trees, so each commit costs one object read; a later
change can make it fast at 100k commits (commit-graph, a per-canary index).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2
from pygit2.enums import SortMode

from gitflagger.adapters.git.repository import branch_ref, open_repository
from gitflagger.adapters.git.trailers import StepTrailers
from gitflagger.errors import TemporaryError


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded step: when, what the trailers say, and which commit."""

    time: datetime
    commit: str
    subject: str
    trailers: StepTrailers


def read_history(
    path: str | Path, canary: str, *, branch: str = "main", limit: int | None = None
) -> list[HistoryEntry]:
    """The steps recorded for ``canary`` (``namespace/name``) on ``branch``, newest first.

    An empty list when the branch does not exist yet; a :class:`PermanentError`
    when the path holds no repository (history never creates one).
    """
    ref_name = branch_ref(branch)
    repo = open_repository(path, create=False)
    try:
        ref = repo.references.get(ref_name)
        if ref is None:
            return []
        out: list[HistoryEntry] = []
        for entry in _steps(repo, ref.peel(pygit2.Commit).id):
            if limit is not None and len(out) >= limit:
                break
            if entry.trailers.canary == canary:
                out.append(entry)
        return out
    except pygit2.GitError as err:
        raise TemporaryError(f"{path}: cannot read the history of {branch}: {err}") from err


def _steps(repo: pygit2.Repository, head: pygit2.Oid) -> Iterator[HistoryEntry]:
    walker = repo.walk(head, SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    for commit in walker:
        trailers = StepTrailers.from_message(commit.message)
        if trailers is None:
            continue
        yield HistoryEntry(
            time=datetime.fromtimestamp(commit.commit_time, tz=UTC),
            commit=str(commit.id),
            subject=commit.message.split("\n", 1)[0],
            trailers=trailers,
        )
