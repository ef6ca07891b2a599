"""Replay unpushed commits over a remote head that moved: a rebase that knows whose paths are whose.

A push loses the race when another writer (another controller replica, a
person) pushed first. gitflagger owns its Canary directories, so its commits
can move onto the new head without a merge: each commit's change is replayed
*unit by unit*, where a unit is a Canary directory ``<prefix>/<ns>/<name>``
(every step rewrites its whole directory) or, outside the prefix, a single
file. For each unit a commit changed, with ``P`` its parent, ``C`` the commit
and ``N`` the new base::

    N[unit] == C[unit]          already there: nothing to replay
    N[unit] == P[unit]          nobody else touched it: take C[unit]
    otherwise                   a real conflict: someone else changed this Canary

A commit whose ``Step-Id`` the remote already has (since the common base) is
a duplicate, e.g. the other writer was a replica that recorded the same step,
and is dropped, as is one that ends up changing nothing.

A conflict drops that commit and every later local commit of the same unit
(they build on it); the rest still replay, so one Canary's conflict does not
hold the others back. The original local head is kept under
``refs/gitflagger/conflicts/…`` for inspection, and the caller reports the
conflict as a :class:`~gitflagger.errors.PermanentError` once the rest is pushed.

Rewritten commits keep author, committer and message, except for the
``Previous-Step`` trailer, which is pointed at the rewritten (or the remote's)
commit, and are signed again when a signer is given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pygit2

from gitflagger.adapters.git.latest import first_parent, latest_step_commit
from gitflagger.adapters.git.signing import Signer, write_commit
from gitflagger.adapters.git.trailers import StepTrailers, parse_trailers, with_previous_step
from gitflagger.adapters.git.tree import entry_at, replace_entry

CONFLICT_REF_ROOT = "refs/gitflagger/conflicts"
MAX_UPSTREAM_SCAN = 100_000


@dataclass(frozen=True)
class Conflict:
    """A local commit that could not move: someone else changed its Canary directory."""

    unit: str
    """``local/test/podinfo``: the directory (or file) both sides changed."""
    subject: str
    step_id: str | None
    theirs: str | None
    """The remote commit that last changed the unit, when it is a gitflagger step."""


@dataclass
class RebaseResult:
    head: pygit2.Oid | None
    """The new local head: ``upstream`` plus the replayed commits."""
    rewritten: dict[str, str] = field(default_factory=dict)
    """Old commit id → new (or the remote's commit with the same Step-Id)."""
    duplicates: list[str] = field(default_factory=list)
    """Step-Ids (or subjects) dropped because the remote already has them."""
    conflicts: list[Conflict] = field(default_factory=list)
    set_aside: str | None = None
    """The ref keeping the original local commits, when something conflicted."""


def unpushed_commits(
    repo: pygit2.Repository, local: pygit2.Oid, stops: Sequence[pygit2.Oid | None]
) -> list[pygit2.Commit] | None:
    """Local commits down to the first of ``stops`` found on the first-parent line, oldest first.

    ``None`` when no stop is on the line: the histories are unrelated and
    nothing can tell which commits are ours to replay.
    """
    wanted = {s for s in stops if s is not None}
    chain: list[pygit2.Commit] = []
    for commit in first_parent(repo, local):
        if commit.id in wanted:
            chain.reverse()
            return chain
        chain.append(commit)
    return None


def rebase(
    repo: pygit2.Repository,
    commits: Sequence[pygit2.Commit],
    upstream: pygit2.Oid,
    base: pygit2.Oid | None,
    *,
    prefix: Sequence[str],
    signer: Signer | None = None,
    conflict_ref: str | None = None,
) -> RebaseResult:
    """Replay ``commits`` (oldest first) onto ``upstream``; ``base`` is where the histories met."""
    upstream_steps = _steps_since(repo, upstream, base)
    base_tree = repo[base].peel(pygit2.Commit).tree if base is not None else None
    upstream_tree = repo[upstream].peel(pygit2.Commit).tree
    result = RebaseResult(head=upstream)
    blocked: set[tuple[str, ...]] = set()
    tip = repo[upstream].peel(pygit2.Commit)
    for commit in commits:
        trailers = StepTrailers.from_message(commit.message)
        sid = parse_trailers(commit.message).get("Step-Id")
        if sid and sid in upstream_steps:
            result.rewritten[str(commit.id)] = upstream_steps[sid]
            result.duplicates.append(sid)
            continue
        parent_tree = commit.parents[0].tree if commit.parents else None
        units = _changed_units(repo, parent_tree, commit.tree, prefix)
        if any(u in blocked for u in units):
            blocked.update(units)
            result.conflicts.append(_conflict(repo, commit, units, upstream, sid))
            continue
        root = tip.tree
        new_root: pygit2.Oid = root.id
        clash = False
        for unit in units:
            mine, before, now = entry_at(commit.tree, unit), entry_at(parent_tree, unit), entry_at(root, unit)
            if now == mine:
                continue
            if now != before:
                clash = True
                break
            new_root = replace_entry(repo, repo[new_root].peel(pygit2.Tree), unit, mine)
        if clash:
            blocked.update(units)
            result.conflicts.append(_conflict(repo, commit, units, upstream, sid))
            continue
        if new_root == root.id:
            result.rewritten[str(commit.id)] = str(tip.id)
            result.duplicates.append(sid or commit.message.split("\n", 1)[0])
            continue
        message = commit.message
        if trailers is not None:
            previous = _previous(repo, trailers, result.rewritten, tip, units, base_tree, upstream_tree)
            message = with_previous_step(message, previous)
        new = write_commit(
            repo,
            author=commit.author,
            committer=commit.committer,
            message=message,
            tree=new_root,
            parents=[tip.id],
            signer=signer,
        )
        result.rewritten[str(commit.id)] = str(new)
        tip = repo[new].peel(pygit2.Commit)
    result.head = tip.id
    if result.conflicts and conflict_ref and commits:
        repo.create_reference_direct(conflict_ref, commits[-1].id, True, message="gitflagger: set aside")
        result.set_aside = conflict_ref
    return result


def unit_of(path: Sequence[str], prefix: Sequence[str]) -> tuple[str, ...]:
    """The Canary directory holding ``path`` (``prefix`` + namespace + name), or the path itself.

    Dot-directories beside the Canaries (``<prefix>/<ns>/.intents/``) hold
    files of several Canaries: there each file is its own unit.
    """
    depth = len(prefix) + 2
    if (
        tuple(path[: len(prefix)]) == tuple(prefix)
        and len(path) > depth
        and not path[depth - 1].startswith(".")
    ):
        return tuple(path[:depth])
    return tuple(path)


def _changed_units(
    repo: pygit2.Repository, old: pygit2.Tree | None, new: pygit2.Tree, prefix: Sequence[str]
) -> list[tuple[str, ...]]:
    diff = old.diff_to_tree(new) if old is not None else new.diff_to_tree(swap=True)
    units: dict[tuple[str, ...], None] = {}
    for delta in diff.deltas:
        for path in {delta.old_file.path, delta.new_file.path}:
            if path:
                units[unit_of(path.split("/"), prefix)] = None
    return list(units)


def _steps_since(repo: pygit2.Repository, upstream: pygit2.Oid, base: pygit2.Oid | None) -> dict[str, str]:
    """Step-Id → commit id for the remote's commits after ``base`` (newest wins)."""
    found: dict[str, str] = {}
    for count, commit in enumerate(first_parent(repo, upstream)):
        if commit.id == base or count >= MAX_UPSTREAM_SCAN:
            break
        if b"\nStep-Id: " in commit.raw_message:
            sid = parse_trailers(commit.message).get("Step-Id")
            if sid and sid not in found:
                found[sid] = str(commit.id)
    return found


def _previous(
    repo: pygit2.Repository,
    trailers: StepTrailers,
    rewritten: dict[str, str],
    tip: pygit2.Commit,
    units: list[tuple[str, ...]],
    base_tree: pygit2.Tree | None,
    upstream_tree: pygit2.Tree,
) -> str | None:
    """The replayed step's ``Previous-Step``: the rewritten link, or the old one if the remote left it be."""
    old = trailers.previous_step
    if old is not None and old in rewritten:
        return rewritten[old]
    directory = units[0] if units else ()
    if entry_at(base_tree, directory) == entry_at(upstream_tree, directory):
        return old  # the remote did not touch this Canary: its previous step is unchanged
    latest = latest_step_commit(repo, tip, directory, trailers.canary, present_only=False)
    return str(latest.id) if latest is not None else None


def _conflict(
    repo: pygit2.Repository,
    commit: pygit2.Commit,
    units: list[tuple[str, ...]],
    upstream: pygit2.Oid,
    sid: str | None,
) -> Conflict:
    trailers = StepTrailers.from_message(commit.message)
    theirs = None
    if trailers is not None and units:
        latest = latest_step_commit(repo, repo[upstream].peel(pygit2.Commit), units[0], trailers.canary)
        theirs = str(latest.id) if latest is not None else None
    return Conflict(
        unit="/".join(units[0]) if units else "",
        subject=commit.message.split("\n", 1)[0],
        step_id=sid,
        theirs=theirs,
    )
