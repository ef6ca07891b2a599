"""Manual control through git: ``gitflagger promote|abort|retry`` as commits the controller reads back.

An operator's intent is a commit on the config branch that adds one small file
beside the Canary's directory, ``<prefix>/<namespace>/.intents/<name>.yaml``,
with an ``Intent: promote`` trailer. The controller reads that file at the
branch head on its next step (one tree lookup, however long the history) and
passes it to the decision core as ``observation.manual``. Once the decision has
consumed it, the controller commits the file's removal with an
``Intent-Handled:`` trailer. The two commits are the audit trail: who asked
for what, when, and when the controller acted on it.

Why a file and not only a trailer: finding "the newest unhandled intent" from
trailers alone means walking history back to the last acknowledgement, which
for a Canary that never had an intent is the whole history. The file makes
"is anything pending" a constant-time question, and it survives clones (a ref
cache would not). It sits outside the Canary's directory because every step
rewrites that directory whole.

The last word wins: a second intent before the controller's next step replaces
the first. The removal is compare-and-swap on the file's blob, so an intent
recorded while the controller was acting on an older one is never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pygit2
from pygit2.enums import FileMode

from gitflagger.adapters.git.identity import DEFAULT_IDENTITY, Identity
from gitflagger.adapters.git.layout import canary_directory
from gitflagger.adapters.git.locks import settle_after_error
from gitflagger.adapters.git.repository import branch_ref
from gitflagger.adapters.git.trailers import parse_trailers
from gitflagger.adapters.git.tree import read_directory, replace_directory
from gitflagger.decide.observation import ManualIntent
from gitflagger.errors import PermanentError, TemporaryError
from gitflagger.model.status import format_time, parse_time

INTENTS_DIR = ".intents"
MAX_ATTEMPTS = 20


@dataclass(frozen=True)
class PendingIntent:
    """An intent waiting at the branch head: what, when, by whom, and the blob that says so."""

    canary: str
    """``namespace/name``."""
    intent: ManualIntent
    requested_at: datetime | None
    requested_by: str
    blob: str
    """The file's blob id: the acknowledgement removes exactly this request, never a newer one."""


def intent_path(prefix: str, canary: str) -> tuple[str, ...]:
    """``(<prefix>..., <namespace>, .intents, <name>.yaml)`` for ``canary`` = ``namespace/name``."""
    namespace, name = _split(canary)
    return (*canary_directory(prefix, namespace, name)[:-1], INTENTS_DIR, f"{name}.yaml")


def record_intent(
    repo: pygit2.Repository,
    canary: str,
    intent: ManualIntent,
    *,
    branch: str = "main",
    prefix: str = "local",
    identity: Identity = DEFAULT_IDENTITY,
    now: datetime | None = None,
    reason: str = "",
) -> str:
    """Commit ``intent`` for ``canary`` on ``branch``; return the commit id."""
    when = now or datetime.now(UTC)
    namespace, name = _split(canary)
    body = f"intent: {intent.value}\nrequestedAt: {format_time(when)}\nrequestedBy: {identity.name}\n"
    subject = f"{name}.{namespace}: {intent.value} requested"
    text = reason.strip() or f"Requested with gitflagger {intent.value}."
    message = f"{subject}\n\n{text}\n\nCanary: {canary}\nIntent: {intent.value}\n"
    blob = repo.create_blob(body.encode())
    commit = _commit(repo, branch, intent_path(prefix, canary), blob, None, message, identity, when)
    assert commit is not None  # only a compare-and-swap removal can come back empty
    return commit


def read_intent(
    repo: pygit2.Repository, canary: str, *, branch: str = "main", prefix: str = "local"
) -> PendingIntent | None:
    """The intent waiting for ``canary`` at the head of ``branch``; ``None`` when there is none.

    A file the controller cannot read (hand-edited, an unknown intent) is
    treated as no intent: it must never stop the rollout it was meant to steer.
    """
    path = intent_path(prefix, canary)
    try:
        ref = repo.references.get(branch_ref(branch))
        if ref is None:
            return None
        tree = ref.peel(pygit2.Commit).tree
        folder = read_directory(tree, path[:-1])
        if folder is None or path[-1] not in folder:
            return None
        entry = folder[path[-1]]
        if not isinstance(entry, pygit2.Blob):
            return None
        fields = _fields(entry.data.decode("utf-8", errors="replace"))
    except pygit2.GitError as err:
        raise TemporaryError(f"git: cannot read intents of {canary}: {err}") from err
    value = fields.get("intent", "")
    if value not in ManualIntent._value2member_map_:
        return None
    return PendingIntent(
        canary=canary,
        intent=ManualIntent(value),
        requested_at=parse_time(fields.get("requestedAt")),
        requested_by=fields.get("requestedBy", ""),
        blob=str(entry.id),
    )


def acknowledge_intent(
    repo: pygit2.Repository,
    pending: PendingIntent,
    outcome: str,
    *,
    branch: str = "main",
    prefix: str = "local",
    identity: Identity = DEFAULT_IDENTITY,
    now: datetime | None = None,
) -> str | None:
    """Commit the removal of ``pending``; ``None`` when a newer intent replaced it meanwhile."""
    namespace, name = _split(pending.canary)
    subject = f"{name}.{namespace}: {pending.intent.value} handled"
    message = (
        f"{subject}\n\n{outcome.strip() or 'Handled.'}\n\n"
        f"Canary: {pending.canary}\nIntent-Handled: {pending.intent.value}\n"
    )
    when = now or datetime.now(UTC)
    path = intent_path(prefix, pending.canary)
    return _commit(repo, branch, path, None, pending.blob, message, identity, when, missing_ok=True)


def intent_trailers(message: str) -> tuple[str, str] | None:
    """``(canary, "promote")`` for an intent commit, ``(canary, "handled:promote")`` for its
    acknowledgement, ``None`` for any other commit: how history tells the two apart."""
    found = parse_trailers(message)
    canary = found.get("Canary")
    if canary and "Intent" in found:
        return canary, found["Intent"]
    if canary and "Intent-Handled" in found:
        return canary, "handled:" + found["Intent-Handled"]
    return None


def _commit(
    repo: pygit2.Repository,
    branch: str,
    path: Sequence[str],
    blob: pygit2.Oid | None,
    expect: str | None,
    message: str,
    identity: Identity,
    when: datetime,
    *,
    missing_ok: bool = False,
) -> str | None:
    """Put ``blob`` at ``path`` (``None``: remove it) in a commit on ``branch``, by compare-and-swap.

    With ``expect``, the file must still be that blob; otherwise nothing is
    committed and ``None`` is returned.
    """
    ref_name = branch_ref(branch)
    stamp = int(when.timestamp())
    signature = pygit2.Signature(identity.name, identity.email, stamp, 0)
    try:
        for _ in range(MAX_ATTEMPTS):
            ref = repo.references.get(ref_name)
            parent = ref.peel(pygit2.Commit) if ref is not None else None
            root = parent.tree if parent is not None else None
            folder = read_directory(root, path[:-1])
            current = folder[path[-1]] if folder is not None and path[-1] in folder else None
            if expect is not None and (current is None or str(current.id) != expect):
                if missing_ok:
                    return None
                raise PermanentError(f"{'/'.join(path)} changed while it was being updated")
            builder = repo.TreeBuilder(folder) if folder is not None else repo.TreeBuilder()
            if blob is None:
                if current is not None:
                    builder.remove(path[-1])
            else:
                builder.insert(path[-1], blob, FileMode.BLOB)
            new_root = replace_directory(repo, root, path[:-1], builder.write())
            parents = [parent.id] if parent is not None else []
            commit = repo.create_commit(None, signature, signature, message, new_root, parents)
            try:
                if ref is None:
                    repo.create_reference_direct(ref_name, commit, False)
                else:
                    ref.set_target(commit, "gitflagger: " + message.split("\n", 1)[0])
            except (pygit2.AlreadyExistsError, pygit2.GitError, OSError) as err:
                # the branch moved under us: rebuild on the new head (a held lock is
                # waited out, removed when stale, or named in the error; see locks)
                settle_after_error(err, repo.path, ref_name)
                continue
            return str(commit)
    except pygit2.GitError as err:
        raise TemporaryError(f"git: cannot record an intent in {ref_name}: {err}") from err
    raise TemporaryError(f"git: {ref_name} kept moving; gave up recording the intent")


def _split(canary: str) -> tuple[str, str]:
    namespace, _, name = canary.partition("/")
    if not namespace or not name or "/" in name:
        raise PermanentError(f"expected NAMESPACE/NAME, got {canary!r}")
    return namespace, name


def _fields(text: str) -> dict[str, str]:
    """The ``key: value`` lines of an intent file (a tiny YAML subset, read without a YAML parser)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip().strip('"')
    return out
