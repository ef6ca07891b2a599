"""What several benchmarks share: N podinfo Canaries, the seeded config repo, the raw-commit baseline.

* :func:`workloads`: the podinfo fixtures (Deployment, HPA, Canary) copied into
  namespaces ``bench-0000`` .. so N Canaries each own a directory of the repo.
* :func:`seeded_repo`: a bare config repo already holding ``files`` files under
  the same prefix the Canaries record into (filler Canary directories of eight
  ~1 KiB YAML files), built once with TreeBuilders, packed, and cached under
  ``~/.cache/gitflagger/bench/``; each run gets a fresh copy.
* :func:`raw_commit`: the baseline: one commit that changes one file, with a
  tree builder along the changed path and no working tree or index.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import FileMode

from gitflagger.adapters.files import load_documents
from gitflagger.engine.timeline import Timeline, parse_timeline
from gitflagger.engine.workload import Workload, workload_from_documents
from tests.bench.harness import CACHE

ROOT = Path(__file__).resolve().parents[2]
PODINFO = [ROOT / "fixtures" / "podinfo" / n for n in ("deployment.yaml", "hpa.yaml", "canary.yaml")]
PREFIX = "bench"
BRANCH = "main"
SEED_VERSION = 1
"""Bump when the seeded layout changes: the cache key includes it."""
FILES_PER_DIR = 8
_SIG = pygit2.Signature("bench", "bench@example.invalid", 1_767_225_600, 0)


def workloads(n: int) -> list[Workload]:
    """N podinfo Canaries (with Deployment and HPA), one per namespace ``bench-NNNN``."""
    docs = load_documents(PODINFO)
    out = []
    for i in range(n):
        mine = copy.deepcopy(docs)
        for doc in mine:
            doc.setdefault("metadata", {})["namespace"] = f"bench-{i:04d}"
        out.append(workload_from_documents(mine))
    return out


HEALTHY = {"request-success-rate": 99.9, "request-duration": 120}


def promote_timeline() -> Timeline:
    """A healthy release: initialize, ship 6.0.1, five analysis steps, promote (about 11 steps).

    Written here rather than read from ``fixtures/timelines`` so the benchmark
    does not follow edits to the user-facing examples.
    """
    return parse_timeline({
        "timeline": [
            {"tick": 0, "metrics": HEALTHY},
            {"tick": 2, "image": "ghcr.io/stefanprodan/podinfo:6.0.1"},
        ]
    })


def _filler(path: str) -> bytes:
    """About 1 KiB of YAML that differs per file."""
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        f"  name: {path.replace('/', '-')}",
        "data:",
    ]
    lines += [f"  key{k:02d}: value {k} of {path} " + "x" * 12 for k in range(16)]
    return ("\n".join(lines) + "\n").encode()


def _build_seed(path: Path, files: int) -> None:
    repo = pygit2.init_repository(str(path), bare=True, initial_head=BRANCH)
    dirs = max(1, files // FILES_PER_DIR)
    per_ns = 25
    namespaces: dict[str, pygit2.TreeBuilder] = {}
    written = 0
    for d in range(dirs):
        ns, app = f"filler-{d // per_ns:03d}", f"app-{d % per_ns:02d}"
        builder = repo.TreeBuilder()
        count = FILES_PER_DIR if d < dirs - 1 else files - written
        for f in range(count):
            name = f"configmap-{f:02d}.yaml"
            builder.insert(name, repo.create_blob(_filler(f"{ns}/{app}/{name}")), FileMode.BLOB)
        written += count
        namespaces.setdefault(ns, repo.TreeBuilder()).insert(app, builder.write(), FileMode.TREE)
    prefix = repo.TreeBuilder()
    for ns, builder in namespaces.items():
        prefix.insert(ns, builder.write(), FileMode.TREE)
    root = repo.TreeBuilder()
    root.insert(PREFIX, prefix.write(), FileMode.TREE)
    root.insert("README.md", repo.create_blob(b"# bench config repo\n"), FileMode.BLOB)
    repo.create_commit(f"refs/heads/{BRANCH}", _SIG, _SIG, "seed", root.write(), [])
    subprocess.run(["git", "-C", str(path), "repack", "-adq"], check=True)
    subprocess.run(["git", "-C", str(path), "prune-packed"], check=True)


def seed_path(files: int) -> Path:
    """The cached seed repo with ``files`` files (built on first use)."""
    path = CACHE / f"seed-v{SEED_VERSION}-{files}files.git"
    if not (path / "HEAD").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix="seed-", dir=CACHE))
        shutil.rmtree(tmp)
        _build_seed(tmp, files)
        try:
            tmp.rename(path)
        except OSError:  # another run built it first
            shutil.rmtree(tmp, ignore_errors=True)
    return path


@contextmanager
def seeded_repo(files: int, where: str | None = None) -> Iterator[Path]:
    """A fresh, throwaway copy of the seed repo (under ``where``, default: the system temp dir)."""
    seed = seed_path(files)
    with tempfile.TemporaryDirectory(prefix="gitflagger-bench-", dir=where) as tmp:
        dest = Path(tmp) / "config.git"
        shutil.copytree(seed, dest)
        yield dest


def count_files(repo: pygit2.Repository) -> int:
    tree = repo.revparse_single(BRANCH).peel(pygit2.Tree)
    total = 0
    stack = [tree]
    while stack:
        for entry in stack.pop():
            if isinstance(entry, pygit2.Tree):
                stack.append(entry)
            else:
                total += 1
    return total


class RawCommitter:
    """The baseline: commit a change to one file, rebuilding only the trees along its path."""

    def __init__(self, repo: pygit2.Repository, path: tuple[str, ...]) -> None:
        self.repo = repo
        self.path = path
        self.ref = repo.references[f"refs/heads/{BRANCH}"]
        self.counter = 0

    def commit(self) -> pygit2.Oid:
        repo = self.repo
        self.counter += 1
        head = repo[self.ref.target].peel(pygit2.Commit)
        blob = repo.create_blob(b"value: %d\n" % self.counter)
        root = self._replace(head.tree, self.path, blob)
        sig = pygit2.Signature("bench", "bench@example.invalid", 1_767_225_600 + self.counter, 0)
        oid: pygit2.Oid = repo.create_commit(None, sig, sig, f"raw commit {self.counter}", root, [head.id])
        self.ref.set_target(oid, "bench: raw commit")
        return oid

    def _replace(self, tree: pygit2.Tree | None, path: tuple[str, ...], blob: pygit2.Oid) -> pygit2.Oid:
        head, rest = path[0], path[1:]
        builder = self.repo.TreeBuilder(tree) if tree is not None else self.repo.TreeBuilder()
        if rest:
            child: Any = tree[head] if tree is not None and head in tree else None
            builder.insert(head, self._replace(child, rest, blob), FileMode.TREE)
        else:
            builder.insert(head, blob, FileMode.BLOB)
        oid: pygit2.Oid = builder.write()
        return oid


def baseline_path() -> tuple[str, ...]:
    """A file as deep as a Canary's files: ``<prefix>/<namespace>/<name>/<file>``."""
    return (PREFIX, "filler-000", "app-00", "configmap-00.yaml")
