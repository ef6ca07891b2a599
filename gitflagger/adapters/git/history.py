"""Read a Canary's recorded steps back from the config repo, newest first, reading only its commits.

A branch of 100,000 commits over 1,000 Canaries holds about 100 steps of any
one Canary. Walking the branch to find them reads all 100,000 commits; this
module reads about 100:

1. the Canary's latest step commit comes from the per-canary index ref,
   validated against the branch head (:func:`~gitflagger.adapters.git.latest.latest_step_commit`;
   without a valid ref, a first-parent walk to the newest step, usually short);
2. each step commit names the one before in its ``Previous-Step`` trailer, so
   the rest is one commit read per step.

A chain link that cannot be followed (its commit missing, as in a shallow
clone, or not a step of this Canary) falls back to the first-parent walk from
there, so a damaged chain costs time, never rows. A damaged repository (a
missing object, a ref that names none, a truncated pack) is one
:class:`PermanentError` naming the repository and what is broken.

Measured on a 100,000-commit, 1,000-canary repo, see ``tests/bench/history.py``
and the README's performance section.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from gitflagger.adapters.git.identity import DEFAULT_PREFIX
from gitflagger.adapters.git.latest import (
    changed_directory,
    first_parent,
    latest_step_commit,
    names_canary,
)
from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.message import read_metrics
from gitflagger.adapters.git.repository import branch_ref, open_repository
from gitflagger.adapters.git.trailers import StepTrailers
from gitflagger.errors import PermanentError


@dataclass(frozen=True)
class HistoryEntry:
    """One recorded step: when, what the trailers say, the metrics it judged, and which commit."""

    time: datetime
    commit: str
    subject: str
    trailers: StepTrailers
    metrics: dict[str, str] = field(default_factory=dict)
    """Metric name → the value as the commit body recorded it (``99.9``, ``no values found``)."""
    previous_phase: str | None = None
    """The phase of the step before; ``None`` for the first step (or when not read)."""

    @property
    def phase_changed(self) -> bool:
        """This commit is where the Canary entered its phase (the first step counts)."""
        return self.previous_phase != self.trailers.phase


def read_history(
    path: str | Path,
    canary: str,
    *,
    branch: str = "main",
    prefix: str = DEFAULT_PREFIX,
    limit: int | None = None,
) -> list[HistoryEntry]:
    """The steps recorded for ``canary`` (``namespace/name``) on ``branch`` of a local repo, newest first.

    Raises :class:`PermanentError` when the path holds no repository (history
    never creates one) or the branch does not exist.
    """
    ref_name = branch_ref(branch)
    repo = open_repository(path, create=False)
    try:
        ref = repo.references.get(ref_name)
        target = ref.target if ref is not None else None
    except (pygit2.GitError, ValueError) as err:  # a ref file that holds no object id
        raise PermanentError(f"{path}: the repository is damaged: {err}") from None
    if ref is None or target is None:
        raise PermanentError(f"{path}: no branch {branch!r} (nothing recorded there yet?)")
    return history_at(repo, target, canary, prefix=prefix, limit=limit, where=str(path))


def history_at(
    repo: pygit2.Repository,
    head: pygit2.Oid | str,
    canary: str,
    *,
    prefix: str = DEFAULT_PREFIX,
    limit: int | None = None,
    where: str = "",
) -> list[HistoryEntry]:
    """The steps of ``canary`` in ``<prefix>/<ns>/<name>/`` at the commit ``head``, newest first."""
    namespace, _, name = canary.partition("/")
    directory = canary_directory(prefix, namespace, name)
    try:
        head_commit = repo[head].peel(pygit2.Commit)
        latest = latest_step_commit(repo, head_commit, directory, canary, present_only=False)
        if latest is None:
            return []
        wanted = None if limit is None else limit + 1  # one more, to tell whether the last row changed phase
        commits = list(_chain(repo, latest, directory, canary, wanted))
    except KeyError as err:  # pygit2's "no such object", also for an object a damaged pack cannot give back
        broken = _unreadable(repo, err.args[0] if err.args else "?")
        raise PermanentError(f"{where or repo.path}: the repository is damaged: {broken}") from None
    except (pygit2.GitError, ValueError, OSError) as err:
        raise PermanentError(f"{where or repo.path}: the repository is damaged: {_one_line(err)}") from None
    entries = [_entry(c) for c in commits]
    out = [
        HistoryEntry(
            time=e.time,
            commit=e.commit,
            subject=e.subject,
            trailers=e.trailers,
            metrics=e.metrics,
            previous_phase=entries[i + 1].trailers.phase if i + 1 < len(entries) else None,
        )
        for i, e in enumerate(entries)
    ]
    if limit is not None and len(out) > limit:
        return out[:limit]
    return out


def _unreadable(repo: pygit2.Repository, oid: object) -> str:
    """What a failed object read means: a missing object, and which pack files are damaged, if any."""
    damaged = damaged_packs(Path(repo.path) / "objects" / "pack")
    if damaged:
        return f"object {oid} cannot be read; truncated or corrupt pack file: {', '.join(damaged)}"
    return f"object {oid} is missing; `git fsck` lists what else is"


def damaged_packs(pack_dir: Path) -> list[str]:
    """The packs whose bytes do not end with the checksum their index records (truncated, or cut short).

    A pack ends with the SHA-1 of its content, and its ``.idx`` repeats that
    SHA-1 just before its own; libgit2 drops a pack whose end does not match,
    so its objects then read as missing. Comparing the 20 bytes is enough to
    tell the user which file is broken, without reading the pack.
    """
    damaged = []
    for idx in sorted(pack_dir.glob("pack-*.idx")):
        pack = idx.with_suffix(".pack")
        try:
            with idx.open("rb") as f:
                f.seek(-40, 2)
                recorded = f.read(20)
            with pack.open("rb") as f:
                f.seek(0, 2)
                if f.tell() < 32:
                    damaged.append(pack.name)
                    continue
                f.seek(-20, 2)
                actual = f.read(20)
        except OSError:
            damaged.append(pack.name)
            continue
        if actual != recorded:
            damaged.append(pack.name)
    return damaged


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _chain(
    repo: pygit2.Repository,
    latest: pygit2.Commit,
    directory: Sequence[str],
    canary: str,
    limit: int | None,
) -> Iterator[pygit2.Commit]:
    commit: pygit2.Commit | None = latest
    count = 0
    while commit is not None and (limit is None or count < limit):
        yield commit
        count += 1
        trailers = StepTrailers.from_message(commit.message)
        previous = trailers.previous_step if trailers is not None else None
        if previous is None:
            return  # the first step of this Canary here
        commit = _step_commit(repo, previous, canary) or _walk_from_parent(repo, commit, directory, canary)


def _step_commit(repo: pygit2.Repository, oid: str, canary: str) -> pygit2.Commit | None:
    try:
        obj = repo[oid]
    except (KeyError, ValueError):
        return None
    if not isinstance(obj, pygit2.Commit):
        return None
    trailers = StepTrailers.from_message(obj.message)
    return obj if trailers is not None and trailers.canary == canary else None


def _walk_from_parent(
    repo: pygit2.Repository, commit: pygit2.Commit, directory: Sequence[str], canary: str
) -> pygit2.Commit | None:
    """A broken link: the previous step is the newest step commit below ``commit``."""
    if not commit.parent_ids:
        return None
    for older in first_parent(repo, commit.parent_ids[0]):
        if names_canary(older, canary) and changed_directory(older, directory):
            trailers = StepTrailers.from_message(older.message)
            if trailers is not None and trailers.canary == canary:
                return older
    return None


def _entry(commit: pygit2.Commit) -> HistoryEntry:
    message = commit.message
    trailers = StepTrailers.from_message(message)
    assert trailers is not None  # _chain only yields step commits
    return HistoryEntry(
        time=datetime.fromtimestamp(commit.commit_time, tz=UTC),
        commit=str(commit.id),
        subject=message.split("\n", 1)[0],
        trailers=trailers,
        metrics=read_metrics(message),
    )
