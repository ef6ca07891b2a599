"""The controller's view of the config repo beyond recording: manual intents and recorded status.

A thin holder of *where* things live (repository, branch, prefix), so the
reconcile code asks "anything pending for test/podinfo?" or "where did this
rollout stand?" without knowing git. The intents themselves are
:mod:`gitflagger.adapters.git.intents`, the snapshots :mod:`gitflagger.adapters.git.snapshot`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pygit2

from gitflagger.adapters.git.identity import DEFAULT_BRANCH, DEFAULT_PREFIX, Identity
from gitflagger.adapters.git.intents import PendingIntent, acknowledge_intent, read_intent
from gitflagger.adapters.git.snapshot import recorded_object, recorded_status


@dataclass
class IntentStore:
    """Pending intents of one config repo branch; safe to share between threads."""

    repo: pygit2.Repository
    branch: str = DEFAULT_BRANCH
    prefix: str = DEFAULT_PREFIX
    identity: Identity = field(default_factory=Identity)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def read(self, canary: str) -> PendingIntent | None:
        with self._lock:
            return read_intent(self.repo, canary, branch=self.branch, prefix=self.prefix)

    def acknowledge(self, pending: PendingIntent, outcome: str, *, now: datetime | None = None) -> str | None:
        with self._lock:
            return acknowledge_intent(
                self.repo,
                pending,
                outcome,
                branch=self.branch,
                prefix=self.prefix,
                identity=self.identity,
                now=now,
            )

    def recorded_status(self, canary: str) -> dict[str, Any] | None:
        """The status the Canary's last recorded step wrote to ``canary.yaml``; ``None`` when none."""
        namespace, _, name = canary.partition("/")
        with self._lock:
            return recorded_status(self.repo, namespace, name, branch=self.branch, prefix=self.prefix)

    def committed(self, canary: str, file: str) -> dict[str, Any] | None:
        """One object as the last recorded step committed it (``deployment-podinfo-primary.yaml``)."""
        namespace, _, name = canary.partition("/")
        with self._lock:
            return recorded_object(self.repo, namespace, name, file, branch=self.branch, prefix=self.prefix)
