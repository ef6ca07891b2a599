"""Manual gates: Flagger's in-memory gates, plus approvals committed to a git repo.

**In memory (Flagger's API).** A gate is keyed by kind and ``name.namespace`` and is
closed until someone opens it (``/gate/open``, ``/rollback/open``). The state lives
in the process: a restart closes every gate, exactly as with Flagger.

**In git (gitflagger's addition, ``--gate-repo``).** A gate is also open while the
tip of the gate branch contains a file at one of these paths:

=========  ==========================================  ==========================================
gate       this revision only                          any revision (standing)
=========  ==========================================  ==========================================
confirm    ``approvals/<namespace>/<name>/<checksum>``  ``approvals/<namespace>/<name>/approved``
rollback   ``rollbacks/<namespace>/<name>/<checksum>``  ``rollbacks/<namespace>/<name>/requested``
=========  ==========================================  ==========================================

``<checksum>`` is the ``checksum`` field of Flagger's webhook payload, which changes
with every new revision of the Canary's target and configs, so a checksum file
approves exactly one release. The file's content does not matter; the commit that
adds it is the audit record (who, when, why), and reverting it revokes the approval.

The two sources are ORed: the in-memory gate or the git file opens it. So
``/gate/close`` does not override a committed approval; remove the file to revoke it.

The repo is read with pygit2 and never written: no working tree is needed (a bare
mirror kept fresh by ``git fetch`` or a git-sync sidecar is the intended setup). It
is reopened on every check, so a fetch, a push or a re-clone is seen at once and no
libgit2 handle is shared between request threads. Any failure to read it counts as
closed (fail safe) and is logged and counted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import Enum

import pygit2

from gitflagger.adapters.git import open_repository
from gitflagger.errors import PermanentError


class GateKind(Enum):
    """Which of Flagger's two gate families: confirm (``/gate/*``) or rollback (``/rollback/*``)."""

    CONFIRM = "confirm"
    ROLLBACK = "rollback"

    @property
    def directory(self) -> str:
        return "approvals" if self is GateKind.CONFIRM else "rollbacks"

    @property
    def standing_file(self) -> str:
        return "approved" if self is GateKind.CONFIRM else "requested"


class GateRepoError(RuntimeError):
    """The gate repo or branch cannot be read. The git gate then counts as closed."""


class GateStore:
    """Flagger's gate storage: thread-safe, every gate closed until opened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[tuple[GateKind, str], bool] = {}

    def open(self, kind: GateKind, canary: str) -> None:
        with self._lock:
            self._open[(kind, canary)] = True

    def close(self, kind: GateKind, canary: str) -> None:
        with self._lock:
            self._open[(kind, canary)] = False

    def is_open(self, kind: GateKind, canary: str) -> bool:
        with self._lock:
            return self._open.get((kind, canary), False)


@dataclass(frozen=True)
class GitApproval:
    """The file that opened a gate and the branch tip it was found at."""

    path: str
    commit: str


class GitApprovals:
    """Looks up approval files at the tip of one branch of a local repo, read-only."""

    def __init__(self, repo_path: str, branch: str | None = None) -> None:
        self.repo_path = repo_path
        self.branch = branch

    def check(self) -> str:
        """Open the repo now and return the branch tip's commit id; for a clear error at startup."""
        return str(self._tip().id)

    def find(self, kind: GateKind, namespace: str, name: str, checksum: str = "") -> GitApproval | None:
        """The approval file for this canary (and revision, if ``checksum``), or None.

        ``namespace``, ``name`` and ``checksum`` must already be validated
        (:class:`~gitflagger.loadtester.payload.WebhookPayload` does), so none of them
        can contain ``/`` or be ``..``.
        """
        tip = self._tip()
        base = f"{kind.directory}/{namespace}/{name}"
        candidates = ([f"{base}/{checksum}"] if checksum else []) + [f"{base}/{kind.standing_file}"]
        for path in candidates:
            try:
                obj = tip.tree[path]
            except KeyError:
                continue
            if isinstance(obj, pygit2.Blob):
                return GitApproval(path, str(tip.id))
        return None

    def _tip(self) -> pygit2.Commit:
        try:
            repo = open_repository(self.repo_path, create=False)
        except PermanentError as err:
            raise GateRepoError(f"cannot open gate repo: {err}") from None
        try:
            if self.branch:
                ref = repo.references.get(f"refs/heads/{self.branch}")
                if ref is None:
                    raise GateRepoError(f"gate repo {self.repo_path} has no branch {self.branch!r}")
            else:
                ref = repo.head
            commit = ref.peel(pygit2.Commit)
        except pygit2.GitError as err:
            what = f"branch {self.branch!r}" if self.branch else "HEAD"
            raise GateRepoError(f"cannot read {what} of gate repo {self.repo_path}: {err}") from None
        if not isinstance(commit, pygit2.Commit):
            raise GateRepoError(f"gate repo {self.repo_path}: branch tip is not a commit")
        return commit
