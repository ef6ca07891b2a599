"""The record stage against a remote config repo: commit locally, push once per pass, never twice.

A pass looks like this::

    record(step) ─┐  first record of a pass: fetch, bring the local branch up to the remote
    record(step)  ├─ each commits to the cache's branch, exactly as a local GitRecorder does
    record(step) ─┘  (the Step-Id check sees the remote's steps: they are in the local branch)
    flush()          push the pass's commits in one push; on a lost race fetch, rebase, retry

Failure cases, and why nothing is lost or recorded twice:

* **Lost race** (non-fast-forward, locally detected or refused by the
  server): fetch, replay the local commits over the remote head
  (:mod:`gitflagger.adapters.git.rebase`), wait (bounded exponential backoff
  with jitter) and push again. A step the remote already has is dropped.
* **Conflict** (someone else changed the same Canary directory): that Canary's
  local steps are set aside, the others are pushed, then a
  :class:`PermanentError` names the Canary and the remote commit.
* **Refused ref** (pre-receive hook, protected branch): a
  :class:`PermanentError` with the server's message. Nothing is reported as
  pushed; the commits stay local and the next pass tries again.
* **Network failure, even mid-push**: a :class:`TemporaryError`; the commits
  stay in the cache. The next pass fetches first: if the push did land, the
  remote branch *is* the local one (same commit ids) and nothing is pushed
  again; if it did not, it is pushed then.
* **Crash** between commit and push: the commits are in the cache and the
  next process pushes them; a re-run step is a duplicate (same Step-Id). If
  the cache is gone instead, the step is simply recorded again, once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from gitflagger.adapters.git import transport
from gitflagger.adapters.git.cache import RepoCache
from gitflagger.adapters.git.checksums import ChecksumKey
from gitflagger.adapters.git.latest import index_new_commits
from gitflagger.adapters.git.layout import prefix_parts
from gitflagger.adapters.git.maintenance import DEFAULT_LOOSE_THRESHOLD, BackgroundMaintenance
from gitflagger.adapters.git.rebase import CONFLICT_REF_ROOT, Conflict, rebase, unpushed_commits
from gitflagger.adapters.git.recorder import (
    DEFAULT_BRANCH,
    DEFAULT_PREFIX,
    GitRecorder,
    Identity,
    RecordResult,
    Step,
)
from gitflagger.adapters.git.remote import RemoteConfig
from gitflagger.adapters.git.signing import Signer
from gitflagger.errors import PermanentError, TemporaryError

_RACE_MARKERS = (
    "non-fast-forward",
    "fetch first",
    "cannot lock",
    "failed to lock",
    "stale info",
    "incorrect old",
)


@dataclass(frozen=True)
class RetryPolicy:
    """Push attempts after lost races: ``attempts`` in all, waits doubling from ``base_delay``."""

    attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 5.0

    def delay(self, attempt: int) -> float:
        """The wait before attempt ``attempt + 1``: exponential, capped, with full jitter."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


class RemoteRecorder:
    """Records into a local cache of ``remote`` and pushes each pass's commits (see the module doc)."""

    def __init__(
        self,
        remote: RemoteConfig,
        *,
        branch: str = DEFAULT_BRANCH,
        prefix: str = DEFAULT_PREFIX,
        identity: Identity | None = None,
        cache_root: Path | None = None,
        signer: Signer | None = None,
        checksum_key: ChecksumKey | None = None,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        maintenance_threshold: int = DEFAULT_LOOSE_THRESHOLD,
    ) -> None:
        remote.check()
        self.remote = remote
        self.cache = RepoCache(remote, branch, cache_root)
        self.prefix = prefix_parts(prefix)
        self.local = GitRecorder(
            self.cache.repo,
            branch=branch,
            prefix=prefix,
            identity=identity or Identity(),
            signer=signer,
            checksum_key=checksum_key,
            maintenance_threshold=0,
        )
        self.signer = signer
        self.retry = retry
        self.sleep = sleep
        self.maintenance = BackgroundMaintenance(self.cache.path, maintenance_threshold)
        self.push_retries = 0
        """Lost races so far (``gitflagger_push_retries_total``)."""
        self._synced = False
        self._conflicts: list[Conflict] = []
        self._lock = threading.RLock()

    @property
    def maintenance_threshold(self) -> int:
        return self.maintenance.threshold

    @property
    def repo(self) -> pygit2.Repository:
        return self.cache.repo

    def record(self, step: Step) -> RecordResult:
        """Commit ``step`` to the cache (after this pass's fetch); pushed by :meth:`flush`."""
        with self._lock:
            if not self._synced:
                self.sync()
            return self.local.record(step)

    def flush(self) -> None:
        """Push this pass's commits; the next :meth:`record` starts a new pass (and fetches)."""
        with self._lock:
            try:
                self._push()
            finally:
                self._synced = False
            self.maintenance.poke()  # in the background: the push does not wait for a repack
            if self._conflicts:
                conflicts, self._conflicts = self._conflicts, []
                raise PermanentError(_conflict_message(self.remote, conflicts))

    def sync(self) -> None:
        """Fetch, then bring the local branch up to the remote (fast-forward, or replay local steps)."""
        with self._lock:
            fetched = self.cache.fetch(prefix=self.prefix, allow_empty=True)
            self._integrate(fetched.before)
            self._synced = True

    def _integrate(self, known: pygit2.Oid | None) -> None:
        """Make the local branch the remote's plus the local commits not on it yet."""
        local, upstream = self.cache.head(), self.cache.tracking()
        if upstream is None or local == upstream:
            return
        repo = self.repo
        if local is None or repo.descendant_of(upstream, local):
            self.cache.set_head(upstream, "fast-forward to the remote")
            return
        if repo.descendant_of(local, upstream):
            return  # only unpushed local commits on top: push them as they are
        base = repo.merge_base(local, upstream)
        commits = unpushed_commits(repo, local, [base, known])
        if commits is None:
            raise PermanentError(
                f"git: the branch {self.cache.branch!r} of {self.remote.display} no longer shares history "
                f"with the local cache {self.cache.path} (was it force-pushed?); its unpushed steps are kept "
                "there; move the cache away to start from the remote"
            )
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        result = rebase(
            repo,
            commits,
            upstream,
            base,
            prefix=self.prefix,
            signer=self.signer,
            conflict_ref=f"{CONFLICT_REF_ROOT}/{self.cache.branch}/{stamp}",
        )
        assert result.head is not None
        self.cache.set_head(result.head, f"rebased {len(commits)} local commits onto the remote")
        index_new_commits(repo, result.head, upstream, self.prefix)
        self._conflicts.extend(result.conflicts)

    def _push(self) -> None:
        ref = self.cache.branch_ref
        for attempt in range(self.retry.attempts):
            local, upstream = self.cache.head(), self.cache.tracking()
            if local is None or local == upstream:
                return
            outcome = transport.push(self.repo, self.remote, f"{ref}:{ref}")
            refused = outcome.rejected.get(ref)
            if refused is None:
                self.cache.set_tracking(local)
                return
            if not any(marker in refused.lower() for marker in _RACE_MARKERS):
                said = f": {outcome.remote_output}" if outcome.remote_output else ""
                raise PermanentError(
                    f"git: {self.remote.display} refused the push to {self.cache.branch!r}: {refused}{said}"
                )
            self.push_retries += 1
            self.sleep(self.retry.delay(attempt))
            fetched = self.cache.fetch(prefix=self.prefix, allow_empty=True)
            self._integrate(fetched.before)
        raise TemporaryError(
            f"git: {self.remote.display}: {self.cache.branch!r} kept moving; "
            f"gave up pushing after {self.retry.attempts} attempts (the commits stay in {self.cache.path})"
        )


def _conflict_message(remote: RemoteConfig, conflicts: list[Conflict]) -> str:
    parts = []
    for c in conflicts:
        theirs = f" (last changed by {c.theirs[:12]})" if c.theirs else ""
        what = c.step_id or repr(c.subject)
        parts.append(f"{c.unit}{theirs}: dropped local step {what}")
    return (
        f"git: {remote.display}: someone else changed the same Canary directory; "
        + "; ".join(parts)
        + " (the local commits are kept under refs/gitflagger/conflicts/ in the cache)"
    )
