"""The record stage against a remote config repo: commit locally, push before acting, never twice.

A pass looks like this::

    begin()          fetch, bring the local branch up to the remote, open a batch
    record(step) ─┐  each commits to the cache's branch (in memory), as a local GitRecorder does
    record(step) ─┘  (the Step-Id check sees the remote's steps: they are in the local branch)
    persist()        the batch becomes one pack and one branch update in the cache
    publish(p)       push every local commit the remote lacks and wait for the remote's answer;
                     only then may the caller apply the batch's steps
    flush()          push what is left (intent acknowledgements); on a lost race fetch, rebase, retry

Without :meth:`begin`, the first record of a pass fetches and each record
commits to disk at once, as before. :meth:`publish` is what makes the remote
the record of what ran: a step is applied to the cluster only once the remote
holds its commit, so a process that dies at any point, and restarts with an
empty cache (the shipped Deployment's is an ``emptyDir``), finds on the remote
every step the cluster ever ran. The price is one push round trip per chunk of
a pass before its first apply (``make bench`` measures it).

``background_push`` keeps the old order (push in a background thread while
the caller applies) for the bench's before/after comparison only.

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
  pushed and nothing of the batch is applied; the commits stay local and the
  next pass tries again (the same steps, by Step-Id, are found in the cache
  and not recorded twice).
* **Network failure, even mid-push**: a :class:`TemporaryError`; the commits
  stay in the cache. The next pass fetches first: if the push did land, the
  remote branch *is* the local one (same commit ids) and nothing is pushed
  again; if it did not, it is pushed then.
* **Crash** between commit and push: nothing of those steps was applied. The
  commits are in the cache and the next process pushes them (a re-run step
  is a duplicate, same Step-Id); if the cache is gone instead, the step is
  simply recorded again, once.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

from gitflagger.adapters.git import transport
from gitflagger.adapters.git.cache import RepoCache
from gitflagger.adapters.git.checksums import ChecksumKey
from gitflagger.adapters.git.identity import DEFAULT_BRANCH, DEFAULT_PREFIX, Identity
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.git.latest import index_new_commits, latest_on, step_on_branch
from gitflagger.adapters.git.layout import prefix_parts
from gitflagger.adapters.git.maintenance import DEFAULT_LOOSE_THRESHOLD, BackgroundMaintenance
from gitflagger.adapters.git.rebase import CONFLICT_REF_ROOT, Conflict, rebase, unpushed_commits
from gitflagger.adapters.git.recorder import GitRecorder, Persisted, RecordedStep, RecordResult
from gitflagger.adapters.git.remote import RemoteConfig
from gitflagger.adapters.git.signing import Signer
from gitflagger.adapters.git.trailers import StepTrailers
from gitflagger.errors import GitflaggerError, PermanentError, TemporaryError

PUSH_LOG = 10_000
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
        self.background_push = False
        """The old order, kept for ``make bench`` only: :meth:`persist` starts the push in a
        background thread and :meth:`publish` does not wait for it, so a caller applies steps
        the remote may never get. The controller never sets it."""
        self.push_log: deque[tuple[float, str]] = deque(maxlen=PUSH_LOG)
        """The latest successful pushes: (``time.monotonic()`` when it ended, the commit it published)."""
        self._pusher: threading.Thread | None = None
        self._push_repo: pygit2.Repository | None = None

    @property
    def maintenance_threshold(self) -> int:
        return self.maintenance.threshold

    @property
    def repo(self) -> pygit2.Repository:
        return self.cache.repo

    def intents(self) -> IntentStore:
        """Intents and latest steps in the cache: fetched by :meth:`sync`, acknowledgements pushed
        with the pass's steps."""
        return self.local.intents()

    def record(self, step: RecordedStep) -> RecordResult:
        """Commit ``step`` to the cache (after this pass's fetch); pushed by :meth:`flush`."""
        with self._lock:
            if not self._synced and not self.local.batching:
                self.sync()
            return self.local.record(step)

    def begin(self) -> None:
        """Start a pass: fetch and integrate the remote, then open a batch (see the module doc)."""
        with self._lock:
            if self.local.batching:
                return
            if not self._synced:
                self.sync()
            self.local.begin()

    def persist(self) -> Persisted:
        """Make the batch durable in the cache (pushed by :meth:`publish`, before anything acts on it)."""
        with self._lock:
            result = self.local.persist()
            if result.commits and self.background_push:
                self._start_push()
            return result

    def publish(self, persisted: Persisted) -> Persisted:
        """Push every local commit the remote lacks, now, and return once the remote confirmed it.

        What the caller may apply afterwards is exactly what the remote holds: a
        lost race replays the batch on the remote head first (ids may change,
        see the result), a commit that conflicts is dropped (reported by
        :meth:`flush`), and anything else that stops the push raises, so that
        nothing of the batch is applied. With :attr:`background_push` (the
        bench's "before" mode only) the push was started by :meth:`persist`
        and this returns at once, as the controller used to.
        """
        with self._lock:
            if self.background_push:
                return persisted
            rewritten, dropped = self._push()
            head = self.cache.head()
            if not rewritten and not dropped:
                return persisted
            return persisted.then(str(head) if head is not None else None, rewritten, dropped)

    def discard(self) -> None:
        with self._lock:
            self.local.discard()

    def published_step(self, commit: str) -> StepTrailers | None:
        """The step ``commit`` records, if the remote holds it (as last fetched or pushed)."""
        with self._lock:
            return step_on_branch(self.repo, self.cache.tracking(), commit)

    def latest_published_step(self, namespace: str, name: str) -> tuple[str, StepTrailers] | None:
        """The newest step of the Canary ``namespace/name`` the remote holds: its commit and trailers."""
        with self._lock:
            return latest_on(self.repo, self.cache.tracking(), self.local.prefix, namespace, name)

    def flush(self) -> None:
        """Push this pass's commits; the next :meth:`record` starts a new pass (and fetches)."""
        with self._lock:
            try:
                if self.local.batching:
                    self.local.persist()
                self._wait_push()
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
            self._wait_push()
            fetched = self.cache.fetch(prefix=self.prefix, allow_empty=True)
            self._integrate(fetched.before)
            self._synced = True

    def _integrate(self, known: pygit2.Oid | None) -> tuple[dict[str, str], dict[str, str]]:
        """Make the local branch the remote's plus the local commits not on it yet.

        Returns what the replay did to local commits: old id → new id, and old id → why dropped.
        """
        local, upstream = self.cache.head(), self.cache.tracking()
        if upstream is None or local == upstream:
            return {}, {}
        repo = self.repo
        if local is None or repo.descendant_of(upstream, local):
            self.cache.set_head(upstream, "fast-forward to the remote")
            return {}, {}
        if repo.descendant_of(local, upstream):
            return {}, {}  # only unpushed local commits on top: push them as they are
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
        why = "someone else changed the same Canary directory on the remote"
        dropped = {str(c.id): why for c in commits if str(c.id) not in result.rewritten}
        return dict(result.rewritten), dropped

    def _push(self) -> tuple[dict[str, str], dict[str, str]]:
        """Push the local head; after a lost race, fetch, replay and retry. Returns what replays
        did to local commits (see :meth:`_integrate`), composed over every attempt."""
        ref = self.cache.branch_ref
        rewritten: dict[str, str] = {}
        dropped: dict[str, str] = {}
        for attempt in range(self.retry.attempts):
            local, upstream = self.cache.head(), self.cache.tracking()
            if local is None or local == upstream:
                return rewritten, dropped
            outcome = transport.push(self.repo, self.remote, f"{ref}:{ref}")
            refused = outcome.rejected.get(ref)
            if refused is None:
                self.cache.set_tracking(local)
                self.push_log.append((time.monotonic(), str(local)))
                return rewritten, dropped
            if not any(marker in refused.lower() for marker in _RACE_MARKERS):
                said = f": {outcome.remote_output}" if outcome.remote_output else ""
                raise PermanentError(
                    f"git: {self.remote.display} refused the push to {self.cache.branch!r}: {refused}{said}"
                )
            self.push_retries += 1
            self.sleep(self.retry.delay(attempt))
            fetched = self.cache.fetch(prefix=self.prefix, allow_empty=True)
            moved, lost = self._integrate(fetched.before)
            for old, new in list(rewritten.items()):
                if new in lost:
                    dropped[old] = lost[new]
                    del rewritten[old]
                elif new in moved:
                    rewritten[old] = moved[new]
            for old, new in moved.items():
                rewritten.setdefault(old, new)
            for old, why in lost.items():
                if old not in rewritten.values():
                    dropped.setdefault(old, why)
        raise TemporaryError(
            f"git: {self.remote.display}: {self.cache.branch!r} kept moving; "
            f"gave up pushing after {self.retry.attempts} attempts (the commits stay in {self.cache.path})"
        )


    # ---- the background push ---------------------------------------------------------------------------
    def _start_push(self) -> None:
        self._wait_push()
        self._pusher = threading.Thread(target=self._background_push, name="gitflagger-push", daemon=True)
        self._pusher.start()

    def _wait_push(self) -> None:
        pusher, self._pusher = self._pusher, None
        if pusher is not None:
            pusher.join()

    def _background_push(self) -> None:
        """Push the cache's durable head as it is; anything but a clean success is left to :meth:`flush`."""
        try:
            if self._push_repo is None:
                self._push_repo = pygit2.Repository(str(self.cache.path))
            repo, ref = self._push_repo, self.cache.branch_ref
            head = _target(repo, ref)
            if head is None or head == _target(repo, self.cache.tracking_ref):
                return
            outcome = transport.push(repo, self.remote, f"{ref}:{ref}")
            if ref not in outcome.rejected:
                tracking = self.cache.tracking_ref
                repo.create_reference_direct(tracking, head, True, message="gitflagger: pushed")
                self.push_log.append((time.monotonic(), str(head)))
        except (GitflaggerError, pygit2.GitError, OSError):
            return  # flush() pushes again and reports what goes wrong


def _target(repo: pygit2.Repository, name: str) -> pygit2.Oid | None:
    ref = repo.references.get(name)
    target = ref.target if ref is not None else None
    return target if isinstance(target, pygit2.Oid) else None


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
