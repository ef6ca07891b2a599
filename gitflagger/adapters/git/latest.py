"""Find a Canary's latest recorded step on a branch, cheaply: the per-canary index.

The recorder asks this once per step (for its Step-Id check and the new
commit's ``Previous-Step`` trailer), and ``gitflagger history`` asks it once
before following the ``Previous-Step`` chain. The answer is kept in a ref per
Canary directory, ``refs/gitflagger/canaries/<prefix>/<ns>/<name>``, pointing at
the last commit that recorded a step there.

The ref is a cache, not the truth: it is trusted only while the Canary's
directory at the branch head is the very tree that commit wrote (two path
lookups). Otherwise (a fresh clone has no such refs, someone edited the
directory, the branch was reset) the first-parent history is walked back to the
newest commit that both carries the Canary's trailer and changed its directory.
The second condition matters when several clusters (prefixes) share one repo:
their commits can name the same ``test/podinfo`` but never touch this prefix's
directory.

Who keeps the refs current: the recorder after each commit
(:func:`remember_step`), and a remote's local cache after each fetch
(:func:`index_new_commits` walks only the commits the fetch brought). Refs
under ``refs/gitflagger/`` are not branches; pushes of branches do not carry
them, which is fine for a cache that any clone rebuilds.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pygit2

from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.locks import lock_in_error, remove_if_stale
from gitflagger.adapters.git.trailers import StepTrailers, parse_trailers
from gitflagger.adapters.git.tree import read_directory

REF_ROOT = "refs/gitflagger/canaries"


def canary_ref_name(directory: Sequence[str]) -> str | None:
    """The cache ref of a Canary directory; ``None`` when git would not accept the name."""
    name = "/".join((REF_ROOT, *directory))
    return name if pygit2.reference_is_valid_name(name) else None


def first_parent(repo: pygit2.Repository, start: pygit2.Oid | str) -> Iterator[pygit2.Commit]:
    """``start`` and its first-parent ancestors, newest first, read lazily one commit at a time.

    A revwalk would sort (and so load) the whole history before yielding the
    first commit; at 100k commits that is the difference between microseconds
    and a second.
    """
    commit: pygit2.Commit = repo[start].peel(pygit2.Commit)
    while True:
        yield commit
        parents = commit.parent_ids
        if not parents:
            return
        commit = repo[parents[0]].peel(pygit2.Commit)


def names_canary(commit: pygit2.Commit, canary: str) -> bool:
    """A quick byte test for ``Canary: <canary>`` before any message is parsed."""
    return f"\nCanary: {canary}\n".encode() in commit.raw_message


def changed_directory(commit: pygit2.Commit, directory: Sequence[str]) -> bool:
    """``commit`` wrote ``directory``: it exists there and differs from the first parent's."""
    mine = read_directory(commit.tree, directory)
    if mine is None:
        return False
    parents = commit.parents
    before = read_directory(parents[0].tree, directory) if parents else None
    return before is None or before.id != mine.id


def latest_step_commit(
    repo: pygit2.Repository,
    head: pygit2.Commit | None,
    directory: Sequence[str],
    canary: str,
    *,
    present_only: bool = True,
) -> pygit2.Commit | None:
    """The newest commit at or below ``head`` that recorded a step of ``canary`` in ``directory``.

    With ``present_only`` (the recorder's question) a directory missing at
    ``head`` means no previous step: the Canary was deleted and starts afresh.
    Without it (history's question) the walk also finds steps of a directory
    deleted since.
    """
    if head is None:
        return None
    here = read_directory(head.tree, directory)
    if here is None and present_only:
        return None
    ref_name = canary_ref_name(directory)
    ref = repo.references.get(ref_name) if ref_name else None
    if ref is not None and here is not None:
        cached = _commit_or_none(repo, ref.target)
        if cached is not None:
            wrote = read_directory(cached.tree, directory)
            if wrote is not None and wrote.id == here.id and _is_step_of(cached, canary):
                return cached
    for commit in first_parent(repo, head.id):
        if (
            names_canary(commit, canary)
            and _is_step_of(commit, canary)
            and changed_directory(commit, directory)
        ):
            return commit
    return None


def latest_step(
    repo: pygit2.Repository,
    head: pygit2.Commit | None,
    directory: Sequence[str],
    canary: str,
) -> StepTrailers | None:
    """The trailers of the newest step recorded for ``canary`` in ``directory`` at ``head``."""
    commit = latest_step_commit(repo, head, directory, canary)
    return StepTrailers.from_message(commit.message) if commit is not None else None


def remember_step(repo: pygit2.Repository, directory: Sequence[str], commit: pygit2.Oid) -> None:
    """Point the Canary's cache ref at ``commit``, the step just recorded.

    Best effort: the ref is a cache, and a ref locked by someone else (``git
    pack-refs`` in background maintenance takes each ref's lock for a moment)
    must not fail a step that is already committed; the next lookup walks
    the history instead.
    """
    ref_name = canary_ref_name(directory)
    if ref_name is None:
        return
    for _ in range(2):
        try:
            repo.create_reference_direct(ref_name, commit, True, message="gitflagger: latest step")
            return
        except (pygit2.GitError, OSError) as err:  # pygit2 reports a held lock as OSError
            lock = lock_in_error(err, repo.path)
            if lock is None or not remove_if_stale(lock):  # a lock left by a dead process would stay
                return


PACKED_HEADER = "# pack-refs with: peeled fully-peeled sorted \n"


def remember_steps(repo: pygit2.Repository, latest: Mapping[tuple[str, ...], pygit2.Oid]) -> None:
    """Point many Canaries' cache refs at once: one ``packed-refs`` rewrite instead of a file per ref.

    A batching recorder calls this once per pass. Creating a loose ref file
    costs about as much as a loose object on a slow disk, so the refs go
    straight into ``packed-refs``, under git's own lock (``packed-refs.lock``,
    the lock ``git pack-refs`` and libgit2 take); loose copies of those refs,
    which would shadow the packed values, are removed after. When the lock is
    held (``git pack-refs`` running in maintenance) the refs are written loose,
    one by one, as :func:`remember_step` does; a lock left by a dead process
    is removed once stale (:mod:`~gitflagger.adapters.git.locks`). Best
    effort, like every write of this cache.
    """
    wanted: dict[str, pygit2.Oid] = {}
    for directory, commit in latest.items():
        name = canary_ref_name(directory)
        if name is not None:
            wanted[name] = commit
    if not wanted:
        return
    git_dir = Path(repo.path)
    lock = git_dir / "packed-refs.lock"
    try:
        fd = _create_lock(lock)
    except OSError:
        for directory, commit in latest.items():
            remember_step(repo, directory, commit)
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_packed_refs(git_dir / "packed-refs", wanted))
        os.replace(lock, git_dir / "packed-refs")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(lock)
        return
    for name in wanted:
        with contextlib.suppress(OSError):
            os.unlink(git_dir / name)


def _create_lock(lock: Path) -> int:
    """Create ``lock`` exclusively; one left by a dead process (:func:`remove_if_stale`) is removed first."""
    try:
        return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        if not remove_if_stale(lock):
            raise
    return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)


def _packed_refs(path: Path, updates: Mapping[str, pygit2.Oid]) -> str:
    """``packed-refs`` with ``updates`` applied, sorted by name, peeled lines kept with their refs."""
    entries: dict[str, list[str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    current: str | None = None
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith("^"):
            if current is not None:
                entries[current].append(line)
            continue
        _, _, name = line.partition(" ")
        current = name
        entries[name] = [line]
    for name, commit in updates.items():
        entries[name] = [f"{commit} {name}"]
    body = "".join("\n".join(entries[name]) + "\n" for name in sorted(entries, key=lambda n: n.encode()))
    return PACKED_HEADER + body


def index_new_commits(
    repo: pygit2.Repository,
    new_head: pygit2.Oid,
    old_head: pygit2.Oid | None,
    prefix: Sequence[str],
) -> int:
    """Point the cache refs at the newest step per Canary among the commits ``old_head..new_head``.

    Walks the first-parent line from ``new_head`` down to ``old_head`` (the
    whole history when ``old_head`` is ``None`` or not on that line, as after a
    fresh clone or a force push), so a fetch costs what it brought. Only
    directories under ``prefix`` are indexed: other clusters' steps are not
    this recorder's. Returns the number of refs written.
    """
    seen: set[tuple[str, ...]] = set()
    written = 0
    for commit in first_parent(repo, new_head):
        if old_head is not None and commit.id == old_head:
            break
        canary = parse_trailers(commit.message).get("Canary", "")
        namespace, _, name = canary.partition("/")
        if not namespace or not name or "/" in name:
            continue
        directory = (*prefix, namespace, name)
        if directory in seen or not changed_directory(commit, directory):
            continue
        seen.add(directory)
        remember_step(repo, directory, commit.id)
        written += 1
    return written


def _is_step_of(commit: pygit2.Commit, canary: str) -> bool:
    trailers = StepTrailers.from_message(commit.message)
    return trailers is not None and trailers.canary == canary


def _commit_or_none(repo: pygit2.Repository, oid: pygit2.Oid | str) -> pygit2.Commit | None:
    try:
        obj = repo[oid]
    except (KeyError, ValueError):
        return None
    return obj if isinstance(obj, pygit2.Commit) else None


def step_on_branch(repo: pygit2.Repository, tip: pygit2.Oid | None, commit: str) -> StepTrailers | None:
    """The trailers of ``commit`` when it is ``tip`` or one of its ancestors, else ``None``."""
    try:
        oid = pygit2.Oid(hex=commit)
    except ValueError:
        return None
    if tip is None or oid not in repo.odb:
        return None
    if oid != tip and not repo.descendant_of(tip, oid):
        return None
    return StepTrailers.from_message(repo[oid].peel(pygit2.Commit).message)


def latest_on(
    repo: pygit2.Repository, tip: pygit2.Oid | None, prefix: str, namespace: str, name: str
) -> tuple[str, StepTrailers] | None:
    """The newest step of ``namespace/name`` at or below ``tip``: its commit id and trailers."""
    if tip is None:
        return None
    head = repo[tip].peel(pygit2.Commit)
    found = latest_step_commit(repo, head, canary_directory(prefix, namespace, name), f"{namespace}/{name}")
    trailers = StepTrailers.from_message(found.message) if found is not None else None
    return (str(found.id), trailers) if found is not None and trailers is not None else None
