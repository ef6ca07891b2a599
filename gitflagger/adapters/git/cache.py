"""The local copy of a remote config repo: a bare repository in a cache directory, fetched each pass.

Layout of one cache (``~/.cache/gitflagger/repos/<host>-<name>-<hash>.git``,
or under ``--repo-cache``; in a pod, an ``emptyDir`` or a volume)::

    refs/heads/<branch>              gitflagger's branch: the remote's plus unpushed steps
    refs/remotes/origin/<branch>     the remote's branch as last fetched (or pushed)
    refs/gitflagger/canaries/…       the per-canary history index (see latest.py)
    refs/gitflagger/conflicts/…      local steps set aside after a conflict
    gitflagger/checksum-key          the key sealing Secret checksums (never pushed)

Only the one branch is fetched, so other branches of a shared repo cost
nothing. A cache is only ever an accelerator: deleting it loses at most the
unpushed steps of a crashed pass, which the next pass records again (their
Step-Ids are not on the remote).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitflagger.adapters.git import transport
from gitflagger.adapters.git.latest import index_new_commits
from gitflagger.adapters.git.locks import settle_after_error
from gitflagger.adapters.git.remote import RemoteConfig
from gitflagger.adapters.git.repository import branch_ref
from gitflagger.errors import PermanentError


def default_cache_root() -> Path:
    """``$XDG_CACHE_HOME/gitflagger/repos``, else ``~/.cache/gitflagger/repos``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gitflagger" / "repos"


def cache_path(remote: RemoteConfig, root: Path | None = None) -> Path:
    """One directory per remote URL: readable for a person, unique by hash."""
    url = remote.libgit2_url
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git"))[:40]
    host = re.sub(r"[^A-Za-z0-9_.-]+", "-", remote.host)[:40]
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return (root or default_cache_root()) / f"{host}-{name}-{digest}.git"


@dataclass(frozen=True)
class FetchResult:
    before: pygit2.Oid | None
    """The remote branch as the cache knew it before this fetch."""
    after: pygit2.Oid | None
    """The remote branch now; ``None`` when the remote is still empty."""


class RepoCache:
    """A bare clone of one branch of ``remote`` at :func:`cache_path`."""

    def __init__(self, remote: RemoteConfig, branch: str, root: Path | None = None) -> None:
        self.remote = remote
        self.branch = branch
        self.branch_ref = branch_ref(branch)
        self.tracking_ref = f"refs/remotes/origin/{branch}"
        self.path = cache_path(remote, root)
        self.repo = self._open()

    def _open(self) -> pygit2.Repository:
        try:
            repo = pygit2.Repository(str(self.path))
        except pygit2.GitError:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                repo = pygit2.init_repository(str(self.path), bare=True, initial_head=self.branch)
            except (OSError, pygit2.GitError) as err:
                raise PermanentError(f"cannot create the repo cache {self.path}: {err}") from err
        url = self.remote.libgit2_url
        if "origin" not in [r.name for r in repo.remotes]:
            repo.remotes.create("origin", url, "+refs/heads/*:refs/remotes/origin/*")
        elif repo.remotes["origin"].url != url:
            repo.remotes.set_url("origin", url)
        return repo

    def head(self) -> pygit2.Oid | None:
        """gitflagger's branch in the cache."""
        return self._target(self.branch_ref)

    def tracking(self) -> pygit2.Oid | None:
        """The remote's branch as last fetched or pushed."""
        return self._target(self.tracking_ref)

    def _target(self, name: str) -> pygit2.Oid | None:
        ref = self.repo.references.get(name)
        target = ref.target if ref is not None else None
        return target if isinstance(target, pygit2.Oid) else None

    def fetch(self, *, prefix: tuple[str, ...], allow_empty: bool) -> FetchResult:
        """Fetch the branch; index its new commits under ``prefix``.

        A remote without the branch is a :class:`PermanentError` naming the
        branches it has, except a completely empty remote when ``allow_empty``
        (a recorder's first push creates the branch there).
        """
        before = self.tracking()
        transport.fetch(self.repo, self.remote, f"+{self.branch_ref}:{self.tracking_ref}")
        after = self.tracking()
        if after is None:
            branches = transport.list_branches(self.repo, self.remote)
            if branches or not allow_empty:
                has = f"it has: {', '.join(branches)}" if branches else "the repository is empty"
                raise PermanentError(f"git: {self.remote.display} has no branch {self.branch!r} ({has})")
        elif after != before:
            index_new_commits(self.repo, after, before, prefix)
        return FetchResult(before, after)

    def set_head(self, target: pygit2.Oid, message: str) -> None:
        self._set(self.branch_ref, target, f"gitflagger: {message}")

    def set_tracking(self, target: pygit2.Oid) -> None:
        self._set(self.tracking_ref, target, "gitflagger: pushed")

    def _set(self, name: str, target: pygit2.Oid, message: str) -> None:
        """Point ``name`` at ``target``; a lock on it is waited out or removed when stale (see locks)."""
        try:
            self.repo.create_reference_direct(name, target, True, message=message)
        except (pygit2.GitError, OSError) as err:
            settle_after_error(err, self.repo.path, name)  # raises when a lock stays
            self.repo.create_reference_direct(name, target, True, message=message)
