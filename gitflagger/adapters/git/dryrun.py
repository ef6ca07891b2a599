"""``--dry-run`` for the record stage: the diff a step would commit, and nothing written anywhere.

:class:`DryRunRecorder` implements the engine's record port
(:class:`gitflagger.engine.ports.RecordPort`): it renders a step's files
exactly as :class:`GitRecorder` would (same layout, same sealed Secret
checksums), compares them with the Canary's directory at the repo's head,
hands one unified diff per changed file to a callback, and returns
``skipped_reason = dry-run``. It creates no repository, writes no object or
ref, and pushes nothing.

Over several steps (``gitflagger simulate --dry-run``) each step is compared
with what the previous step *would* have committed, starting from the head:
the output is the series of commits a real run would make.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pygit2

from gitflagger.adapters.git.checksums import ChecksumKey
from gitflagger.adapters.git.identity import DEFAULT_PREFIX
from gitflagger.adapters.git.layout import canary_directory, directory_files
from gitflagger.adapters.git.recorder import Persisted, RecordedStep, RecordResult, SkipReason
from gitflagger.adapters.git.trailers import StepTrailers
from gitflagger.adapters.git.tree import read_directory


@dataclass(frozen=True)
class FileDiff:
    """One file a step would change: ``added``, ``modified`` or ``deleted``, with its unified diff."""

    path: str
    """The path in the repo, ``local/test/podinfo/virtualservice-podinfo.yaml``."""
    status: str
    text: str


DiffSink = Callable[[RecordedStep, Sequence[FileDiff]], None]


class DryRunRecorder:
    """Diffs each step against the head (``head`` of ``repo``; both ``None`` for an empty repo)."""

    def __init__(
        self,
        repo: pygit2.Repository | None,
        head: pygit2.Oid | None,
        on_diff: DiffSink,
        *,
        prefix: str = DEFAULT_PREFIX,
        checksum_key: ChecksumKey | None = None,
    ) -> None:
        self.repo = repo
        self.head = repo[head].peel(pygit2.Commit) if repo is not None and head is not None else None
        self.prefix = prefix
        self.on_diff = on_diff
        if checksum_key is None and repo is not None:
            checksum_key = ChecksumKey.for_git_dir(repo.path, create=False)
        self.checksum_key = checksum_key or ChecksumKey.ephemeral()
        self._would_be: dict[tuple[str, ...], dict[str, bytes]] = {}

    def record(self, step: RecordedStep) -> RecordResult:
        canary = step.canary
        directory = canary_directory(self.prefix, canary.namespace, canary.name)
        after = (
            {} if step.removes
            else directory_files(canary, step.decision.state, step.manifests, seal=self.checksum_key.seal)
        )
        before = self._would_be.get(directory)
        if before is None:
            before = self._files_at_head(directory)
        self._would_be[directory] = after
        self.on_diff(step, file_diffs("/".join(directory), before, after))
        return RecordResult(None, SkipReason.DRY_RUN)

    def flush(self) -> None:
        """Nothing to push."""

    def published_step(self, commit: str) -> StepTrailers | None:
        """A dry run publishes nothing and answers for nothing."""
        return None

    def latest_published_step(self, namespace: str, name: str) -> tuple[str, StepTrailers] | None:
        return None

    # The rest of the record port: a dry run writes nothing, so there is nothing to batch,
    # fetch, push or acknowledge.
    push_retries = 0

    def sync(self) -> None:
        """Diffs are against the head as it is."""

    def begin(self) -> None:
        """Nothing is batched: each step's diff is reported as it is recorded."""

    def persist(self) -> Persisted:
        return Persisted()

    def publish(self, persisted: Persisted) -> Persisted:
        return persisted

    def discard(self) -> None:
        """Nothing was written."""

    def intents(self) -> None:
        """A dry run reads no intent it could not acknowledge."""
        return None

    def _files_at_head(self, directory: tuple[str, ...]) -> dict[str, bytes]:
        folder = read_directory(self.head.tree, directory) if self.head is not None else None
        if folder is None:
            return {}
        return {e.name: e.data for e in folder if isinstance(e, pygit2.Blob) and e.name}


def file_diffs(directory: str, before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[FileDiff]:
    """One unified diff per file that differs, sorted by name (``a/`` and ``b/`` like ``git diff``)."""
    out: list[FileDiff] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        path = f"{directory}/{name}"
        status = "added" if old is None else "deleted" if new is None else "modified"
        lines = difflib.unified_diff(
            _lines(old),
            _lines(new),
            "/dev/null" if old is None else f"a/{path}",
            "/dev/null" if new is None else f"b/{path}",
        )
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        out.append(FileDiff(path, status, text))
    return out


def _lines(content: bytes | None) -> list[str]:
    return content.decode("utf-8", errors="replace").splitlines(True) if content is not None else []
