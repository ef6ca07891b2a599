"""One entry point from ``--repo`` to a recorder or a history: local path, file://, HTTPS or SSH.

The commands (``simulate``, ``history``, and the controller's ``run`` and
``reconcile``) build a :class:`RepoSettings` from their options and call
:meth:`RepoSettings.recorder` or :meth:`RepoSettings.history`; which class does
the work depends on where the repo is:

=================  ==================================  =================================
``--repo``         recording                           history reads
=================  ==================================  =================================
a path, file://    :class:`GitRecorder` on the repo    the repo's branch
https://, ssh://   :class:`RemoteRecorder` on a cache  the remote branch, fetched first
any, dry run       :class:`DryRunRecorder`             (not applicable)
=================  ==================================  =================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pygit2

from gitflagger.adapters.git.cache import RepoCache
from gitflagger.adapters.git.checksums import ChecksumKey
from gitflagger.adapters.git.dryrun import DiffSink, DryRunRecorder
from gitflagger.adapters.git.history import HistoryEntry, history_at, read_history
from gitflagger.adapters.git.identity import DEFAULT_BRANCH, DEFAULT_PREFIX, Identity
from gitflagger.adapters.git.layout import prefix_parts
from gitflagger.adapters.git.recorder import GitRecorder
from gitflagger.adapters.git.remote import RemoteConfig
from gitflagger.adapters.git.remote_recorder import RemoteRecorder
from gitflagger.adapters.git.repository import branch_ref, open_repository, removed_unless_written
from gitflagger.adapters.git.signing import Signer


@dataclass(frozen=True)
class RepoSettings:
    """Everything the ``--repo`` option set says: where, which branch and prefix, how to sign and seal."""

    remote: RemoteConfig
    branch: str = DEFAULT_BRANCH
    prefix: str = DEFAULT_PREFIX
    cache_root: Path | None = None
    """Where remote repos are cached (``--repo-cache``); default ``~/.cache/gitflagger/repos``."""
    signer: Signer | None = None
    checksum_key: ChecksumKey | None = field(default=None, repr=False)
    identity: Identity = field(default_factory=Identity)

    def check(self) -> None:
        """Refuse bad settings before anything is created or contacted."""
        self.remote.check()
        branch_ref(self.branch)
        prefix_parts(self.prefix)

    def recorder(self, *, dry_run: DiffSink | None = None) -> GitRecorder | RemoteRecorder | DryRunRecorder:
        """The record stage for these settings; with ``dry_run``, one that only reports diffs."""
        if dry_run is not None:
            self.check()
            return self._dry_run(dry_run)
        return self.writer()

    def writer(self) -> GitRecorder | RemoteRecorder:
        """The recorder that writes (and, for a remote, pushes): what intents are committed with."""
        self.check()
        if self.remote.is_remote:
            return RemoteRecorder(
                self.remote,
                branch=self.branch,
                prefix=self.prefix,
                identity=self.identity,
                cache_root=self.cache_root,
                signer=self.signer,
                checksum_key=self.checksum_key,
            )
        return GitRecorder(
            self.remote.local_path,
            branch=self.branch,
            prefix=self.prefix,
            identity=self.identity,
            signer=self.signer,
            checksum_key=self.checksum_key,
        )

    @contextlib.contextmanager
    def created_only_if_written(self) -> Iterator[None]:
        """Around a command that records: a local repo it creates is removed again if nothing landed in it.

        See :func:`~gitflagger.adapters.git.repository.removed_unless_written`; a
        remote's cache is the cache's business, not the user's, and is left alone.
        """
        if self.remote.is_remote:
            yield
            return
        with removed_unless_written(self.remote.local_path):
            yield

    def history(self, canary: str, *, limit: int | None = None) -> list[HistoryEntry]:
        """The recorded steps of ``canary`` (``ns/name``), newest first; a remote is fetched first."""
        self.check()
        if not self.remote.is_remote:
            return read_history(
                self.remote.local_path, canary, branch=self.branch, prefix=self.prefix, limit=limit
            )
        cache = RepoCache(self.remote, self.branch, self.cache_root)
        fetched = cache.fetch(prefix=prefix_parts(self.prefix), allow_empty=False)
        assert fetched.after is not None  # allow_empty=False raised otherwise
        return history_at(
            cache.repo, fetched.after, canary, prefix=self.prefix, limit=limit, where=self.remote.display
        )

    def _dry_run(self, sink: DiffSink) -> DryRunRecorder:
        repo: pygit2.Repository | None = None
        head: pygit2.Oid | None = None
        if self.remote.is_remote:
            cache = RepoCache(self.remote, self.branch, self.cache_root)
            head = cache.fetch(prefix=prefix_parts(self.prefix), allow_empty=True).after
            repo = cache.repo
        elif self.remote.local_path.exists():
            repo = open_repository(self.remote.local_path, create=False)
            ref = repo.references.get(branch_ref(self.branch))
            head = ref.peel(pygit2.Commit).id if ref is not None else None
        return DryRunRecorder(repo, head, sink, prefix=self.prefix, checksum_key=self.checksum_key)
