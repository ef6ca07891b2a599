"""The record stage: one commit per step that changed something, written without a working tree.

A step's files replace the Canary's directory in the branch head's tree
(:mod:`gitflagger.adapters.git.tree`), the commit goes on top of the head, and
the branch moves by compare-and-swap. Two outcomes skip the commit:

* ``unchanged``: the Canary's directory would come out byte-identical.
* ``duplicate-step``: the Canary's latest recorded step (see
  :mod:`gitflagger.adapters.git.latest`) has this step's Step-Id. A reconcile
  retried after a crash, or run twice, records nothing, even when
  time-dependent fields of its output differ (Kargo's idempotent commit step;
  STYLE "Idempotent steps that can say skipped").

Concurrency: the branch only moves with libgit2's compare-and-swap (the old
target must still be the parent we built on). A writer that loses the race
rebuilds its tree on the new head and tries again; since each Canary owns its
directory, nothing needs merging. One :class:`GitRecorder` serialises its own
callers with a lock (a ``pygit2.Repository`` must not be shared across threads
unguarded); separate recorders on one repository rely on the CAS alone.

Batches: between :meth:`GitRecorder.begin` and
:meth:`GitRecorder.persist`, the commits of a pass stay in memory (see
:mod:`gitflagger.adapters.git.pack`); ``persist`` writes them as one pack,
moves the branch once by compare-and-swap (replaying the batch on top when
another writer moved it, see :mod:`gitflagger.adapters.git.rebase`) and
writes the per-canary index refs into ``packed-refs`` at once. On a slow disk
that is what a pass costs instead of five to seven new files per step. A
batch's commit ids are provisional until ``persist`` says what became of them
(:class:`Persisted`); nothing may act on them before that.

:meth:`GitRecorder.flush` ends a reconcile pass: a remote recorder
(:mod:`gitflagger.adapters.git.remote_recorder`) pushes the pass's commits
there; for a local repository it only runs maintenance when due
(:mod:`gitflagger.adapters.git.maintenance`), in the background.

Each commit's ``Previous-Step`` trailer names the Canary's previous step, the
chain ``gitflagger history`` follows. Secret checksums are sealed with the
repository's key (:mod:`gitflagger.adapters.git.checksums`) and commits are
signed when a :class:`~gitflagger.adapters.git.signing.Signer` is given.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path

import pygit2
from pygit2.enums import FileMode

from gitflagger.adapters.git.checksums import ChecksumKey
from gitflagger.adapters.git.identity import DEFAULT_BRANCH, DEFAULT_IDENTITY, DEFAULT_PREFIX, Identity
from gitflagger.adapters.git.intent_store import IntentStore
from gitflagger.adapters.git.latest import (
    latest_on,
    latest_step_commit,
    remember_step,
    remember_steps,
    step_on_branch,
)
from gitflagger.adapters.git.layout import RenderedObject, canary_directory, directory_files, prefix_parts
from gitflagger.adapters.git.locks import settle_after_error
from gitflagger.adapters.git.maintenance import DEFAULT_LOOSE_THRESHOLD, BackgroundMaintenance
from gitflagger.adapters.git.message import compose_message
from gitflagger.adapters.git.pack import MemoryObjects, buffered_repository, write_pack
from gitflagger.adapters.git.rebase import rebase, unpushed_commits
from gitflagger.adapters.git.repository import branch_ref, open_repository
from gitflagger.adapters.git.signing import Signer, write_commit
from gitflagger.adapters.git.trailers import StepTrailers, canary_uid, step_id
from gitflagger.adapters.git.tree import (
    entry_at,
    read_directory,
    replace_directory,
    replace_entry,
    write_directory,
)
from gitflagger.decide.decision import Decision
from gitflagger.decide.observation import MetricResult, WebhookResult
from gitflagger.errors import TemporaryError
from gitflagger.model.canary import Canary

MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class RecordedStep:
    """One step of one Canary, everything the record stage writes about it."""

    canary: Canary
    decision: Decision
    manifests: Sequence[RenderedObject]
    revision: str
    """The target's revision this step worked on (``sha256:…``): the ``Revision:`` trailer."""
    time: datetime
    """When the step happened (``Observation.now``): the commit's author and committer time."""
    metrics: Mapping[str, MetricResult] = field(default_factory=dict)
    """Metric results the step judged; empty when it ran no analysis."""
    webhooks: Mapping[str, WebhookResult] = field(default_factory=dict)
    """Gate results the step judged, by webhook name."""
    removes: bool = False
    """The step removes the Canary's whole directory (a deleted Canary in git-only mode, so that the
    GitOps tool prunes what it generated); ``manifests`` is then empty."""

    @property
    def step_id(self) -> str:
        return step_id(canary_uid(self.canary), self.revision, self.decision.state.step)


class SkipReason(StrEnum):
    DUPLICATE_STEP = "duplicate-step"
    UNCHANGED = "unchanged"
    DRY_RUN = "dry-run"


@dataclass(frozen=True)
class RecordResult:
    """The commit a step made, or why it made none."""

    commit_id: str | None
    skipped_reason: SkipReason | None = None
    existing: str | None = None
    """For a ``duplicate-step``: the commit that already records this step (the Canary's status
    names it once the step is applied, as if it had just been recorded)."""


@dataclass
class Persisted:
    """What :meth:`GitRecorder.persist` did with a batch's commits.

    A batch's commit ids are provisional until then: when the branch moved
    under the batch (another writer committed meanwhile), its commits were
    replayed on top and got new ids (:attr:`rewritten`), and a commit whose
    Canary directory the other writer changed too was dropped (:attr:`dropped`).
    """

    head: str | None = None
    """The branch after the batch (``None``: no branch yet)."""
    commits: int = 0
    rewritten: dict[str, str] = field(default_factory=dict)
    """Provisional commit id → the id it has on the branch (only those that changed)."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Provisional commit id → why it is not on the branch."""
    ids: tuple[str, ...] = ()
    """Every provisional commit id of the batch, in order."""

    def final(self, commit: str | None) -> str | None:
        """The id ``commit`` has on the branch now (``None`` for none, or one that was dropped)."""
        if commit is None or commit in self.dropped:
            return None
        return self.rewritten.get(commit, commit)

    def then(self, head: str | None, rewritten: Mapping[str, str], dropped: Mapping[str, str]) -> Persisted:
        """What became of the batch after a later rewrite: a push that replayed it on a moved remote
        (``rewritten``: old id → new id; ``dropped``: old id → why it is gone)."""
        moved: dict[str, str] = {}
        lost = dict(self.dropped)
        for commit in self.ids:
            if commit in self.dropped:
                continue
            now = self.rewritten.get(commit, commit)
            if now in dropped:
                lost[commit] = dropped[now]
                continue
            now = rewritten.get(now, now)
            if now != commit:
                moved[commit] = now
        for old, new in rewritten.items():  # commits of earlier batches the push replayed too
            moved.setdefault(old, new)
        for old, why in dropped.items():
            if old not in moved:
                lost.setdefault(old, why)
        return Persisted(head=head, commits=self.commits, rewritten=moved, dropped=lost, ids=self.ids)



@dataclass
class _Batch:
    base: pygit2.Oid | None
    """The branch when the batch began: the compare-and-swap's expected value."""
    head: pygit2.Oid | None
    commits: list[pygit2.Oid] = field(default_factory=list)
    latest: dict[tuple[str, ...], pygit2.Oid] = field(default_factory=dict)
    """Per Canary directory, its newest step in this batch (the per-canary index refs, once persisted)."""
    subtrees: dict[tuple[str, ...], pygit2.Oid | None] = field(default_factory=dict)
    """Per Canary directory, the tree its newest step in this batch wrote (``None``: it removed it)."""


class GitRecorder:
    """Records steps into a local repository (bare or not) on one branch.

    ``checksum_key`` seals Secret checksums (default: the repository's own
    key, created on first use); ``signer`` signs each commit;
    ``maintenance_threshold`` is the estimated number of loose objects above
    which :meth:`flush` starts a repack in the background (``0``: never; see
    :class:`~gitflagger.adapters.git.maintenance.BackgroundMaintenance`).
    """

    def __init__(
        self,
        repo: pygit2.Repository | str | Path,
        *,
        branch: str = DEFAULT_BRANCH,
        prefix: str = DEFAULT_PREFIX,
        identity: Identity = DEFAULT_IDENTITY,
        signer: Signer | None = None,
        checksum_key: ChecksumKey | None = None,
        maintenance_threshold: int = DEFAULT_LOOSE_THRESHOLD,
    ) -> None:
        self.ref_name = branch_ref(branch)
        self.repo = repo if isinstance(repo, pygit2.Repository) else open_repository(repo, branch=branch)
        self.prefix = prefix
        self.identity = identity
        self.signer = signer
        self._checksum_key = checksum_key
        self.maintenance = BackgroundMaintenance(self.repo.path, maintenance_threshold)
        self._lock = threading.RLock()
        self._batch: _Batch | None = None
        self._buffered: tuple[pygit2.Repository, MemoryObjects, pygit2.OdbBackend] | None = None
        self._known: dict[tuple[str, ...], tuple[pygit2.Oid, pygit2.Oid]] = {}
        """Per Canary directory: (the last step this recorder persisted there, the tree it wrote).

        What the index ref says, without reading that commit's (large) root tree again: trusted,
        like the ref, only while the directory at the head is still that very tree."""
        self.push_retries = 0
        """Always 0: a local repository is never pushed (the record port asks every recorder)."""
        self._intents = IntentStore(self.repo, branch=branch, prefix=prefix, identity=identity)

    def sync(self) -> None:
        """A local repository has no remote to fetch from."""

    def intents(self) -> IntentStore:
        """Operators' intents and the latest recorded steps, in this recorder's repository and branch."""
        return self._intents

    def record(self, step: RecordedStep) -> RecordResult:
        """Commit ``step`` on the branch unless it is already there or changes nothing.

        Inside a batch (:meth:`begin`), the commit is only in memory until :meth:`persist`.
        """
        with self._lock:
            try:
                if self._batch is not None:
                    return self._record_buffered(step, self._batch)
                return self._record(step)
            except pygit2.GitError as err:
                raise TemporaryError(f"git: cannot record {step.canary.ref}: {err}") from err

    # ---- batches: one pack and one branch update per pass ---------------------------------------------
    @property
    def batching(self) -> bool:
        return self._batch is not None

    def begin(self) -> None:
        """Start a batch: the commits of the following :meth:`record` calls stay in memory.

        A no-op when a batch is already open.
        """
        with self._lock:
            if self._batch is not None:
                return
            if self._buffered is None:
                self._buffered = buffered_repository(self.repo.path)
            head = self._branch_target(self._buffered[0])
            self._batch = _Batch(base=head, head=head)

    def discard(self) -> None:
        """Forget an open batch: its commits never reach the branch (nothing acted on them)."""
        with self._lock:
            self._batch = None
            if self._buffered is not None:
                self._buffered[1].objects.clear()

    def persist(self) -> Persisted:
        """Make the open batch durable: its objects as one pack, then the branch and index refs, once.

        The branch moves by compare-and-swap from where it was at :meth:`begin`;
        when another writer moved it meanwhile, the batch's commits are
        replayed on top, Canary directory by Canary directory (see
        :mod:`~gitflagger.adapters.git.rebase`), and the result says which
        ids changed or were dropped. Without an open batch: nothing to do.
        """
        with self._lock:
            batch = self._batch
            if batch is None:
                head = self._branch_target(self.repo)
                return Persisted(head=str(head) if head is not None else None)
            try:
                return self._persist(batch)
            except (pygit2.GitError, OSError) as err:  # OSError: writing the pack (disk full, permissions)
                raise TemporaryError(f"git: cannot persist {len(batch.commits)} steps: {err}") from err
            finally:
                self._batch = None
                if self._buffered is not None:
                    self._buffered[1].objects.clear()

    def _branch_target(self, repo: pygit2.Repository) -> pygit2.Oid | None:
        ref = repo.references.get(self.ref_name)
        target = ref.target if ref is not None else None
        return target if isinstance(target, pygit2.Oid) else None

    def _record_buffered(self, step: RecordedStep, batch: _Batch) -> RecordResult:
        assert self._buffered is not None
        repo = self._buffered[0]
        canary = step.canary
        directory = canary_directory(self.prefix, canary.namespace, canary.name)
        sid = step.step_id
        subtree = self._subtree(repo, step)
        parent = repo[batch.head].peel(pygit2.Commit) if batch.head is not None else None
        root = parent.tree if parent is not None else None
        existing = read_directory(root, directory)
        if _unchanged(existing, subtree):
            return RecordResult(None, SkipReason.UNCHANGED)
        mine = batch.latest.get(directory)
        known = self._known.get(directory)
        if mine is None and known is not None and existing is not None and existing.id == known[1]:
            mine = known[0]  # this recorder's last step of the Canary, and its directory is unchanged since
        if mine is not None:
            previous: pygit2.Commit | None = repo[mine].peel(pygit2.Commit)
        else:
            previous = latest_step_commit(repo, parent, directory, canary.ref)
        latest = StepTrailers.from_message(previous.message) if previous is not None else None
        if latest is not None and previous is not None and latest.step_id == sid:
            return RecordResult(None, SkipReason.DUPLICATE_STEP, str(previous.id))
        message = _message(step, sid, str(previous.id) if previous is not None else None)
        new_root = _new_root(repo, root, directory, subtree)
        signature = self._signature(step.time)
        commit = write_commit(
            repo,
            author=signature,
            committer=signature,
            message=message,
            tree=new_root,
            parents=[parent.id] if parent is not None else [],
            signer=self.signer,
        )
        batch.head = commit
        batch.commits.append(commit)
        batch.latest[directory] = commit
        batch.subtrees[directory] = subtree
        return RecordResult(str(commit))

    def _persist(self, batch: _Batch) -> Persisted:
        assert self._buffered is not None
        repo, memory, packs = self._buffered
        if not batch.commits:
            return Persisted(head=str(batch.base) if batch.base is not None else None)
        objects_dir = Path(repo.path) / "objects"
        provisional = [str(c) for c in batch.commits]
        where = {c: c for c in provisional}  # provisional id → its id in the current line of commits
        dropped: dict[str, str] = {}
        base, head = batch.base, batch.head
        assert head is not None
        for attempt in range(MAX_ATTEMPTS):
            write_pack(objects_dir, memory.objects)  # durable before any ref points at it
            packs.refresh()
            memory.objects.clear()
            ref = repo.references.get(self.ref_name)
            current = ref.target if ref is not None else None
            if current == base and self._advance(ref, head, f"{len(where)} steps"):
                break
            current = self._branch_target(repo)
            if current is None:
                raise TemporaryError(f"git: {self.ref_name} was deleted while recording; the pass is retried")
            if current == base:
                time.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))
                continue
            commits = unpushed_commits(repo, head, [base]) if base is not None else None
            if commits is None:
                commits = [repo[where[c]].peel(pygit2.Commit) for c in provisional if c in where]
            result = rebase(
                repo, commits, current, base, prefix=prefix_parts(self.prefix), signer=self.signer
            )
            for c in list(where):
                moved = result.rewritten.get(where[c])
                if moved is None:
                    del where[c]
                    dropped[c] = "another writer changed the same Canary directory"
                else:
                    where[c] = moved
            assert result.head is not None
            base, head = current, result.head
        else:
            raise TemporaryError(
                f"git: {self.ref_name} kept moving; gave up persisting {len(provisional)} steps "
                f"after {MAX_ATTEMPTS} attempts"
            )
        final = {c: where[c] for c in where}
        index = {d: final.get(str(c)) for d, c in batch.latest.items()}
        remember_steps(repo, {d: pygit2.Oid(hex=c) for d, c in index.items() if c is not None})
        for directory, landed in index.items():
            wrote = batch.subtrees[directory]
            if landed is None or wrote is None:
                self._known.pop(directory, None)
            else:
                self._known[directory] = (pygit2.Oid(hex=landed), wrote)
        return Persisted(
            head=str(head),
            commits=len(final),
            rewritten={c: n for c, n in final.items() if c != n},
            dropped=dropped,
            ids=tuple(provisional),
        )

    def publish(self, persisted: Persisted) -> Persisted:
        """A local repository: the persisted batch is already where readers find it."""
        return persisted

    def published_step(self, commit: str) -> StepTrailers | None:
        """The step ``commit`` records, if the branch holds it (``None``: not there, or not a step)."""
        with self._lock:
            return step_on_branch(self.repo, self._branch_target(self.repo), commit)

    def latest_published_step(self, namespace: str, name: str) -> tuple[str, StepTrailers] | None:
        """The newest step of the Canary ``namespace/name`` on the branch: its commit and trailers."""
        with self._lock:
            return latest_on(self.repo, self._branch_target(self.repo), self.prefix, namespace, name)

    @property
    def maintenance_threshold(self) -> int:
        return self.maintenance.threshold

    def flush(self) -> None:
        """Persist an open batch (nothing else to publish locally); start a repack when due.

        The repack runs in the background (:attr:`maintenance`); :meth:`flush` never waits for it.
        """
        if self._batch is not None:
            self.persist()
        self.maintenance.poke()

    def _record(self, step: RecordedStep) -> RecordResult:
        canary = step.canary
        directory = canary_directory(self.prefix, canary.namespace, canary.name)
        sid = step.step_id
        subtree = self._subtree(self.repo, step)
        signature = self._signature(step.time)
        for attempt in range(MAX_ATTEMPTS):
            ref = self.repo.references.get(self.ref_name)
            parent = self.repo[ref.target].peel(pygit2.Commit) if ref is not None else None
            root = parent.tree if parent is not None else None
            existing = read_directory(root, directory)
            if _unchanged(existing, subtree):
                return RecordResult(None, SkipReason.UNCHANGED)
            previous = latest_step_commit(self.repo, parent, directory, canary.ref)
            latest = StepTrailers.from_message(previous.message) if previous is not None else None
            if latest is not None and previous is not None and latest.step_id == sid:
                return RecordResult(None, SkipReason.DUPLICATE_STEP, str(previous.id))
            message = _message(step, sid, str(previous.id) if previous is not None else None)
            new_root = _new_root(self.repo, root, directory, subtree)
            parents = [parent.id] if parent is not None else []
            commit = write_commit(
                self.repo,
                author=signature,
                committer=signature,
                message=message,
                tree=new_root,
                parents=parents,
                signer=self.signer,
            )
            if self._advance(ref, commit, message):
                remember_step(self.repo, directory, commit)
                return RecordResult(str(commit))
            time.sleep(random.uniform(0, min(0.001 * 2**attempt, 0.05)))  # let the winner finish
        raise TemporaryError(
            f"git: {self.ref_name} kept moving; gave up recording {canary.ref} after {MAX_ATTEMPTS} attempts"
        )

    def _subtree(self, repo: pygit2.Repository, step: RecordedStep) -> pygit2.Oid | None:
        """The tree ``step`` writes for its Canary's directory; ``None`` when it removes the directory."""
        if step.removes:
            return None
        return write_directory(repo, directory_files(step.canary, step.decision.state, step.manifests,
                                                     seal=self._seal))

    @property
    def checksum_key(self) -> ChecksumKey:
        """The key sealing Secret checksums; the repository's own is created on first use."""
        if self._checksum_key is None:
            self._checksum_key = ChecksumKey.for_git_dir(self.repo.path)
        return self._checksum_key

    def _seal(self, checksum: str) -> str:
        return self.checksum_key.seal(checksum)

    def _signature(self, when: datetime) -> pygit2.Signature:
        """Author and committer at ``when`` (a naive time is taken as UTC, never as local time)."""
        aware = when if when.tzinfo else when.replace(tzinfo=UTC)
        offset = aware.utcoffset() or timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        return pygit2.Signature(self.identity.name, self.identity.email, int(aware.timestamp()), minutes)

    def _advance(self, ref: pygit2.Reference | None, commit: pygit2.Oid, message: str) -> bool:
        """Move the branch to ``commit`` iff it still points where ``ref`` said; ``False`` on a lost race."""
        reflog = "gitflagger: " + message.split("\n", 1)[0]
        try:
            if ref is None:
                self.repo.create_reference_direct(self.ref_name, commit, False, message=reflog)
            else:
                ref.set_target(commit, reflog)
        except (pygit2.AlreadyExistsError, pygit2.GitError, OSError) as err:
            # libgit2 reports a moved ref ("old reference value does not match") and a
            # ref locked by another writer (another recorder, or ``git pack-refs`` in
            # background maintenance; pygit2 raises OSError for a held lock file):
            # all mean: rebuild on the new head. A lock is first waited out; one left
            # by a dead process is removed when stale, or named in the error (see locks).
            settle_after_error(err, self.repo.path, self.ref_name)
            return False
        return True


KEEP = ".keep"
"""Left in a namespace's directory when its last Canary's directory is removed (see :func:`_new_root`)."""
KEEP_TEXT = b"Keeps this directory in git after its last Canary left, so the GitOps tool's path exists.\n"


def _unchanged(existing: pygit2.Tree | None, subtree: pygit2.Oid | None) -> bool:
    """The directory is already what the step writes: the same tree, or (a removal) absent."""
    if subtree is None:
        return existing is None
    return existing is not None and existing.id == subtree


def _new_root(
    repo: pygit2.Repository, root: pygit2.Tree | None, directory: tuple[str, ...], subtree: pygit2.Oid | None
) -> pygit2.Oid:
    """``root`` with the Canary's directory replaced by ``subtree``, or removed.

    A removal that empties the namespace's directory leaves :data:`KEEP` in it: git holds no empty
    directory, and a GitOps tool pointed at it (a Flux Kustomization per namespace) would fail on a
    missing path instead of pruning what the Canary generated.
    """
    if subtree is None:
        removed = repo[replace_entry(repo, root, directory, None)].peel(pygit2.Tree)
        if entry_at(removed, directory[:-1]) is not None:
            return removed.id
        keep = (repo.create_blob(KEEP_TEXT), int(FileMode.BLOB))
        return replace_entry(repo, removed, (*directory[:-1], KEEP), keep)
    return replace_directory(repo, root, directory, subtree)


def _message(step: RecordedStep, sid: str, previous: str | None) -> str:
    state = step.decision.state
    trailers = StepTrailers(
        canary=step.canary.ref,
        phase=state.phase.value if state.phase else "",
        canary_weight=state.canary_weight,
        primary_weight=step.decision.routes.primary,
        failed_checks=state.failed_checks,
        iterations=state.iterations,
        revision=step.revision,
        step_id=sid,
        previous_step=previous,
    )
    return compose_message(
        subject=step.decision.subject,
        events=tuple(e.message for e in step.decision.events),
        canary=step.canary,
        metrics=step.metrics,
        webhooks=step.webhooks,
        trailers=trailers,
    )

