"""Find a Canary's latest recorded step on a branch, cheaply.

The recorder asks this once per step for its Step-Id check. The answer is kept
in a ref per Canary directory, ``refs/gitflagger/canaries/<prefix>/<ns>/<name>``,
pointing at the last commit that recorded a step there. The ref is a cache, not
the truth: it is trusted only while the Canary's directory at the branch head
is the very tree that commit wrote (two path lookups). Otherwise (a fresh
clone has no such refs, someone edited the directory, the branch was reset)
the first-parent history is walked back to the newest commit that both carries
the Canary's trailer and changed its directory. The second condition matters
when several clusters (prefixes) share one repo: their commits can name the
same ``test/podinfo`` but never touch this prefix's directory.

Refs under ``refs/gitflagger/`` are not branches; pushes of branches do not
carry them, which is fine for a cache that any clone can rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import pygit2
from pygit2.enums import SortMode

from gitflagger.adapters.git.trailers import StepTrailers
from gitflagger.adapters.git.tree import read_directory

REF_ROOT = "refs/gitflagger/canaries"


def canary_ref_name(directory: Sequence[str]) -> str | None:
    """The cache ref of a Canary directory; ``None`` when git would not accept the name."""
    name = "/".join((REF_ROOT, *directory))
    return name if pygit2.reference_is_valid_name(name) else None


def latest_step(
    repo: pygit2.Repository,
    head: pygit2.Commit | None,
    directory: Sequence[str],
    canary: str,
) -> StepTrailers | None:
    """The trailers of the newest step recorded for ``canary`` in ``directory`` at ``head``."""
    here = read_directory(head.tree, directory) if head is not None else None
    if head is None or here is None:
        return None
    ref_name = canary_ref_name(directory)
    ref = repo.references.get(ref_name) if ref_name else None
    if ref is not None:
        cached = ref.peel(pygit2.Commit)
        wrote = read_directory(cached.tree, directory)
        trailers = StepTrailers.from_message(cached.message)
        if wrote is not None and wrote.id == here.id and trailers is not None and trailers.canary == canary:
            return trailers
    walker = repo.walk(head.id, SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    for commit in walker:
        trailers = StepTrailers.from_message(commit.message)
        if trailers is None or trailers.canary != canary:
            continue
        mine = read_directory(commit.tree, directory)
        before = read_directory(commit.parents[0].tree, directory) if commit.parents else None
        if mine is not None and (before is None or before.id != mine.id):
            return trailers
    return None


def remember_step(repo: pygit2.Repository, directory: Sequence[str], commit: pygit2.Oid) -> None:
    """Point the Canary's cache ref at ``commit``, the step just recorded."""
    ref_name = canary_ref_name(directory)
    if ref_name is not None:
        repo.create_reference_direct(ref_name, commit, True, message="gitflagger: latest step")
