"""What the dashboard shows: every Canary with phase, weight and last step, from the cluster or from git.

With a cluster, a background Canary watch (list, then watch; a 410 or a broken
connection lists again) keeps the Canaries' status current, and git adds each
one's last step. Without one, the config repo alone is read: each Canary's
directory at the branch head and its newest step commit. A remote repo is
fetched at most every ``git_every`` seconds, however often the page asks.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pygit2

from gitflagger.adapters.git import RepoSettings
from gitflagger.adapters.git.history import history_at
from gitflagger.adapters.git.layout import prefix_parts
from gitflagger.adapters.git.step_log import read_steps
from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.errors import KubeTemporaryError, WatchExpired
from gitflagger.cli.report import branch_head, select
from gitflagger.errors import PermanentError
from gitflagger.render.report import render_report, split_rollouts
from gitflagger.render.report.page import render_step_page


class Board:
    """The dashboard's data, shared by the request threads; read-only towards the cluster and the repo."""

    def __init__(self, repo: RepoSettings, kube: KubeCluster | None, namespace: str | None,
                 git_every: float = 5.0) -> None:
        self.repo = repo
        self.kube = kube
        self.namespace = namespace
        self.git_every = git_every
        self._lock = threading.Lock()
        self._git: tuple[pygit2.Repository, pygit2.Oid] | None = None
        self._git_at = 0.0
        self._live: dict[tuple[str, str], dict[str, Any]] = {}
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.kube is not None:
            self._thread = threading.Thread(target=self._watch, name="canary-watch", daemon=True)
            self._thread.start()
            self._synced.wait(30)

    def stop(self) -> None:
        self._stop.set()

    @property
    def source(self) -> str:
        where = f"{self.repo.remote.display} ({self.repo.branch})"
        return f"live from the cluster, steps from {where}" if self.kube is not None else f"from git: {where}"

    def canaries(self) -> dict[str, Any]:
        """``{"source": …, "canaries": [row, …]}``, rows sorted by namespace and name."""
        git, head = self._head()
        recorded = self._recorded(git, head)
        if self.kube is None:
            rows = [self._git_row(git, head, ns, name) for ns, name in recorded]
        else:
            with self._lock:
                live = list(self._live.values())
            rows = [self._live_row(git, head, obj, recorded) for obj in live]
        rows.sort(key=lambda r: (r["namespace"], r["name"]))
        return {"source": self.source, "canaries": rows}

    def report(self, namespace: str, name: str, which: str) -> str:
        git, head = self._head()
        ref = f"{namespace}/{name}"
        rollouts = select(split_rollouts(read_steps(git, head, ref, prefix=self.repo.prefix)), which, ref)
        return render_report(ref, rollouts, source=f"{self.repo.remote.display} ({self.repo.branch})",
                             generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()))

    def step(self, namespace: str, name: str, commit: str) -> str:
        """One step's page: ``commit`` is a full id or a prefix of at least 7 characters."""
        git, head = self._head()
        ref = f"{namespace}/{name}"
        steps = [s for s in read_steps(git, head, ref, prefix=self.repo.prefix)
                 if len(commit) >= 7 and s.commit.startswith(commit)]
        if not steps:
            raise PermanentError(f"{ref}: no step {commit}")
        return render_step_page(ref, steps[-1])

    # ---- git -----------------------------------------------------------------------------------
    def _head(self) -> tuple[pygit2.Repository, pygit2.Oid]:
        with self._lock:
            fresh = self._git is not None and (
                self.repo.remote.is_remote and time.monotonic() - self._git_at < self.git_every)
            if not fresh or self._git is None:
                self._git = branch_head(self.repo)
                self._git_at = time.monotonic()
            return self._git

    def _recorded(self, git: pygit2.Repository, head: pygit2.Oid) -> list[tuple[str, str]]:
        """(namespace, name) of every Canary directory under the prefix at ``head``."""
        tree = git[head].peel(pygit2.Commit).tree
        for part in prefix_parts(self.repo.prefix):
            try:
                entry = tree[part]
            except KeyError:
                return []
            if not isinstance(entry, pygit2.Tree):
                return []
            tree = entry
        found = []
        for ns in tree:
            if not isinstance(ns, pygit2.Tree) or ns.name is None or ns.name.startswith("."):
                continue
            if self.namespace and ns.name != self.namespace:
                continue
            found += [(ns.name, c.name) for c in ns if isinstance(c, pygit2.Tree) and c.name
                      and "canary.yaml" in c]
        return found

    def _last_step(self, git: pygit2.Repository, head: pygit2.Oid, ref: str) -> dict[str, Any]:
        entries = history_at(git, head, ref, prefix=self.repo.prefix, limit=1)
        if not entries:
            return {}
        e = entries[0]
        t = e.trailers
        return {"phase": t.phase, "canaryWeight": t.canary_weight, "primaryWeight": t.primary_weight,
                "failedChecks": t.failed_checks, "lastStep": e.subject, "lastCommit": e.commit,
                "lastStepTime": e.time.strftime("%Y-%m-%dT%H:%M:%SZ")}

    def _git_row(self, git: pygit2.Repository, head: pygit2.Oid, namespace: str, name: str) -> dict[str, Any]:
        row = {"namespace": namespace, "name": name, "phase": "", "canaryWeight": 0, "primaryWeight": 100,
               "failedChecks": 0, "lastStep": "", "lastCommit": "", "lastStepTime": "", "source": "git"}
        row.update(self._last_step(git, head, f"{namespace}/{name}"))
        return row

    def _live_row(self, git: pygit2.Repository, head: pygit2.Oid, obj: dict[str, Any],
                  recorded: list[tuple[str, str]]) -> dict[str, Any]:
        meta, status = obj.get("metadata") or {}, obj.get("status") or {}
        namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        step = self._last_step(git, head, f"{namespace}/{name}") if (namespace, name) in recorded else {}
        weight = int(status.get("canaryWeight") or 0)
        return {"namespace": namespace, "name": name, "phase": str(status.get("phase") or ""),
                "canaryWeight": weight, "primaryWeight": 100 - weight,
                "failedChecks": int(status.get("failedChecks") or 0),
                "lastStep": step.get("lastStep", ""), "lastCommit": str(status.get("lastCommit") or ""),
                "lastStepTime": step.get("lastStepTime", ""), "source": "cluster"}

    # ---- cluster -------------------------------------------------------------------------------
    def _watch(self) -> None:
        assert self.kube is not None
        while not self._stop.is_set():
            try:
                items, version = self.kube.list_canaries(self.namespace)
                with self._lock:
                    self._live = {_key(o): o for o in items}
                self._synced.set()
                while not self._stop.is_set():
                    with self.kube.watch_canaries(self.namespace, version, timeout_seconds=30) as watch:
                        for kind, obj in watch:
                            with self._lock:
                                if kind == "DELETED":
                                    self._live.pop(_key(obj), None)
                                else:
                                    self._live[_key(obj)] = obj
                        version = watch.resource_version
            except WatchExpired:
                continue
            except KubeTemporaryError:
                self._stop.wait(1)


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace", "")), str(meta.get("name", ""))
