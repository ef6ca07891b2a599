"""History benchmark: ``gitflagger history`` on 100,000 commits over 1,000 Canaries (quick: 10,000 over 100).

``run(quick) -> list[dict]`` gives rows (``name, value, unit, target, baseline, ratio`` plus ``n,
low, high, notes``), each a median of repeated runs: the first 20 steps of one Canary (target ≤ 50
ms) and its full history (≤ 200 ms) through :func:`read_history`, opening the repo included, with
the per-canary index ref the recorder keeps and without it (a clone made with plain git); the
baseline ``git log [-n 20] --format=%H -- <dir>`` on the same repo with a commit-graph and
changed-path Bloom filters (``ratio`` = value / baseline: below 1 is faster than git); the worst
case (the least recently active Canary, no index ref); and the command in a new process.

The repo is built once and cached in ``~/.cache/gitflagger/bench/``. Through :class:`GitRecorder`
100k commits take tens of minutes (YAML rendering, loose objects, a ref CAS per step), so the
builder is a faithful fast path: the recorder's layout (``bench/<ns>/<name>/``: ``canary.yaml``
and eight manifests), its commit messages (the real :func:`compose_message`, metrics, gates and
every trailer, ``Previous-Step`` included), one first-parent line, and its index refs. Manifests
are templates whose status, weights and image change per step. Objects go through pygit2 into an
object database that streams them into one pack (``git index-pack``), then ``git repack -a -d``
and ``git commit-graph write --reachable --changed-paths``, as the recorder's maintenance does.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2
from pygit2.enums import FileMode

from gitflagger.adapters.git import StepTrailers, read_history
from gitflagger.adapters.git.latest import REF_ROOT
from gitflagger.adapters.git.message import compose_message
from gitflagger.decide.observation import MetricResult, WebhookResult
from gitflagger.model.parse import parse_canary_yaml

FORMAT = "v1"
CACHE = Path.home() / ".cache" / "gitflagger" / "bench"
PREFIX = "bench"
FIRST = 20
PHASES = ["Progressing"] * 5 + ["Promoting", "Finalising", "Succeeded"]
ROOT = Path(__file__).resolve().parents[2]
BASE = "commit-graph + changed-path Bloom filters"


@dataclass(frozen=True)
class Shape:
    commits: int
    canaries: int
    namespaces: int

    @property
    def path(self) -> Path:
        return CACHE / f"history-{FORMAT}-{self.commits}-{self.canaries}.git"


def run(quick: bool) -> list[dict[str, Any]]:
    shape = Shape(10_000, 100, 10) if quick else Shape(100_000, 1_000, 50)
    started = time.perf_counter()
    built = not shape.path.exists()
    if built:
        build(shape)
    setup = time.perf_counter() - started
    runs = 15 if quick else 11
    canary, dormant = _middle(shape), _least_recent(shape)
    steps = {c: len(read_history(shape.path, c, prefix=PREFIX)) for c in (canary, dormant)}
    facts = f"{shape.commits:,} commits, {shape.canaries:,} canaries; {canary} has {steps[canary]} steps"

    def ours(who: str, limit: int | None) -> Callable[[], float]:
        def once() -> float:
            t = time.perf_counter()
            rows = read_history(shape.path, who, prefix=PREFIX, limit=limit)
            elapsed = time.perf_counter() - t
            assert len(rows) == min(limit or steps[who], steps[who])
            return elapsed * 1000

        return once

    def git_log(limit: int | None) -> Callable[[], float]:
        args = [
            "git",
            "--git-dir",
            str(shape.path),
            "log",
            "--format=%H",
            *(["-n", str(limit)] if limit else []),
        ]

        def once() -> float:
            t = time.perf_counter()
            out = subprocess.run([*args, "--", f"{PREFIX}/{canary}/"], capture_output=True, check=True).stdout
            elapsed = time.perf_counter() - t
            assert out.count(b"\n") == (limit or steps[canary])
            return elapsed * 1000

        return once

    rows: list[dict[str, Any]] = []
    for label, limit, target in ((f"first {FIRST} steps", FIRST, 50.0), ("full history", None, 200.0)):
        base = _sample(git_log(limit), runs)
        rows.append(
            _row(f"history: {label}, indexed", _sample(ours(canary, limit), runs), target, base, facts)
        )
        with _without_index_ref(shape.path, canary):
            cold = _sample(ours(canary, limit), runs)
        rows.append(_row(f"history: {label}, no index ref (as a plain git clone)", cold, target, base, facts))
        rows.append(_row(f"baseline: git log{' -n 20' if limit else ''} -- <dir>", base, notes=BASE))
    with _without_index_ref(shape.path, dormant):
        worst = _sample(ours(dormant, None), 3)
    note = f"{dormant}: the Canary whose newest step is oldest, so the walk to it is the longest"
    rows.append(_row("history: full history, no index ref, least recently active Canary", worst, notes=note))
    cli = _sample(_cli(shape.path, canary), 5)
    rows.append(_row("gitflagger history, new process (first 20)", cli, notes="Python start-up included"))
    setup_row = _row(f"history repo setup ({'built' if built else 'cached'})", [setup], notes=str(shape.path))
    return [*rows, {**setup_row, "unit": "s", "n": 1}]


def _sample(fn: Callable[[], float], runs: int) -> list[float]:
    fn()  # warm the page cache and the interpreter
    return [fn() for _ in range(runs)]


def _row(
    name: str,
    values: list[float],
    target: float | None = None,
    base: list[float] | None = None,
    notes: str = "",
) -> dict[str, Any]:
    value = statistics.median(values)
    baseline = statistics.median(base) if base else None
    return {
        "name": name,
        "value": round(value, 3),
        "unit": "ms",
        "target": f"≤ {target:g} ms" if target else "",
        "met": value <= target if target else None,
        "baseline": round(baseline, 3) if baseline else None,
        "ratio": round(value / baseline, 3) if baseline else None,
        "n": len(values),
        "low": round(min(values), 3),
        "high": round(max(values), 3),
        "notes": notes,
    }


@contextmanager
def _without_index_ref(path: Path, canary: str) -> Iterator[None]:
    """Remove one Canary's index ref for the block (a clone made with plain git has none), then restore it."""
    repo = pygit2.Repository(str(path))
    ref = repo.references[f"{REF_ROOT}/{PREFIX}/{canary}"]
    name, target = ref.name, ref.target
    ref.delete()
    try:
        yield
    finally:
        repo.create_reference_direct(name, target, True)


def _cli(path: Path, canary: str) -> Callable[[], float]:
    args = [sys.executable, "-c", "from gitflagger.cli.main import main; main()", "history", canary]
    args += ["--repo", str(path), "--repo-prefix", PREFIX, "--limit", str(FIRST), "-o", "jsonl"]

    def once() -> float:
        t = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True, cwd=ROOT)
        return (time.perf_counter() - t) * 1000

    return once


def _middle(shape: Shape) -> str:
    index = shape.canaries // 2
    return f"team-{index % shape.namespaces:02d}/app-{index:04d}"


def _least_recent(shape: Shape) -> str:
    """The Canary whose newest step (its index ref's commit) is the oldest."""
    repo = pygit2.Repository(str(shape.path))
    refs = [r for r in repo.references.iterator() if r.name.startswith(f"{REF_ROOT}/{PREFIX}/")]
    oldest = min(refs, key=lambda r: r.peel(pygit2.Commit).commit_time)
    return oldest.name.removeprefix(f"{REF_ROOT}/{PREFIX}/")


# ---- building the repo -----------------------------------------------------------------------


class _PackWriter(pygit2.OdbBackend):
    """An object database that appends every object to one pack file and keeps only ids and types."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.out = path.open("wb")
        self.out.write(b"PACK" + struct.pack(">II", 2, 0))
        self.types: dict[bytes, int] = {}
        self.recent: dict[bytes, tuple[int, bytes]] = {}
        """This step's trees and the parent commit: pygit2 reads them back to create the commit."""

    def write_cb(self, oid: pygit2.Oid, data: bytes, kind: int) -> None:
        key = oid.raw
        if key in self.types:
            return
        self.types[key] = int(kind)
        if kind != pygit2.enums.ObjectType.BLOB:
            self.recent[key] = (int(kind), data)
        size = len(data)
        header = bytearray([(int(kind) << 4) | (size & 0x0F)])
        size >>= 4
        while size:
            header[-1] |= 0x80
            header.append(size & 0x7F)
            size >>= 7
        self.out.write(bytes(header) + zlib.compress(data, 1))

    def exists_cb(self, oid: pygit2.Oid) -> bool:
        return oid.raw in self.types

    def read_cb(self, oid: pygit2.Oid) -> tuple[int, bytes]:
        return self.recent[oid.raw]

    def forget(self, keep: pygit2.Oid) -> None:
        """Drop what later steps will not read back: all but ``keep`` (the next parent)."""
        self.recent = {keep.raw: self.recent[keep.raw]}

    def read_header_cb(self, oid: pygit2.Oid) -> tuple[int, int]:
        return self.types[oid.raw], 0

    def read_prefix_cb(self, oid: pygit2.Oid) -> tuple[int, bytes, pygit2.Oid]:
        raise KeyError(oid)  # never asked for: every id here is a full one

    exists_prefix_cb = read_prefix_cb

    def refresh_cb(self) -> None:
        """Nothing to refresh: the pack is only read by git after :meth:`finish`."""

    def finish(self) -> Path:
        self.out.seek(8)
        self.out.write(struct.pack(">I", len(self.types)))
        self.out.close()
        path = Path(self.out.name)
        digest = hashlib.sha1(path.read_bytes())
        with path.open("ab") as out:
            out.write(digest.digest())
        return path


def build(shape: Shape) -> None:
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="history-build-", dir=CACHE))
    try:
        target = work / "repo.git"
        git = ["git", "--git-dir", str(target)]
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(target)], check=True)
        writer = _PackWriter(work / "objects.pack")
        mem = pygit2.Repository()
        odb = pygit2.Odb()
        odb.add_backend(writer, 1)
        mem.set_odb(odb)
        head, latest = _write_history(mem, shape, writer)
        pack = writer.finish()
        with pack.open("rb") as stdin:
            subprocess.run([*git, "index-pack", "--stdin"], stdin=stdin, check=True, capture_output=True)
        refs = [f"update refs/heads/main {head}"]
        refs += [f"create {REF_ROOT}/{PREFIX}/{d} {oid}" for d, oid in latest.items()]
        subprocess.run([*git, "update-ref", "--stdin"], input="\n".join(refs) + "\n", text=True, check=True)
        subprocess.run([*git, "repack", "-a", "-d", "-q"], check=True)
        subprocess.run([*git, "pack-refs", "--all"], check=True)
        subprocess.run(
            [*git, "commit-graph", "write", "--reachable", "--changed-paths"], check=True, capture_output=True
        )
        os.replace(target, shape.path)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write_history(repo: pygit2.Repository, shape: Shape, writer: _PackWriter) -> tuple[str, dict[str, str]]:
    rnd = random.Random(20260101)
    names = [(f"team-{i % shape.namespaces:02d}", f"app-{i:04d}") for i in range(shape.canaries)]
    canary_text = (ROOT / "fixtures" / "podinfo" / "canary-v1beta1.yaml").read_text()
    canaries = {
        (ns, name): parse_canary_yaml(
            canary_text.replace("name: podinfo\n  namespace: test", f"name: {name}\n  namespace: {ns}", 1)
        )
        for ns, name in names
    }
    blob = repo.create_blob
    static = {key: _static_files(repo, *key) for key in names}
    dirs: dict[str, dict[str, pygit2.Oid]] = {}
    ns_trees: dict[str, pygit2.Oid] = {}
    progress = {key: 0 for key in names}
    previous: dict[tuple[str, str], str] = {}
    parent: list[pygit2.Oid] = []
    metrics = {"request-duration": MetricResult.of("request-duration", 120.0)}
    for number in range(shape.commits):
        key = names[rnd.randrange(len(names))]
        ns, name = key
        n = progress[key] = progress[key] + 1
        rollout, within = divmod(n - 1, len(PHASES))
        phase = "Initialized" if n == 1 else PHASES[within]
        weight = 0 if phase in ("Initialized", "Finalising", "Succeeded") else min(10 * (within + 1), 50)
        revision = f"sha256:{rollout:064x}"
        files = dict(static[key])
        status = {"ns": ns, "name": name, "phase": phase, "weight": weight, "step": n, "revision": revision}
        files["canary.yaml"] = blob(SNAPSHOT.format(**status).encode())
        files[f"virtualservice-{name}.yaml"] = blob(
            VIRTUAL_SERVICE.format(primary=100 - weight, **status).encode()
        )
        files[f"deployment-{name}-primary.yaml"] = blob(
            DEPLOYMENT.format(ns=ns, name=name, rollout=rollout).encode()
        )
        dirs.setdefault(ns, {})[name] = _tree(repo, files, FileMode.BLOB)
        ns_trees[ns] = _tree(repo, dirs[ns], FileMode.TREE)
        root = _tree(repo, {PREFIX: _tree(repo, ns_trees, FileMode.TREE)}, FileMode.TREE)
        rate = 99.9 - (rnd.random() if within == 2 else 0)
        trailers = StepTrailers(
            canary=f"{ns}/{name}", phase=phase, canary_weight=weight, primary_weight=100 - weight,
            failed_checks=0, iterations=0, revision=revision, step_id=f"uid-{name}/{revision}/{n}",
            previous_step=previous.get(key),
        )  # fmt: skip
        message = compose_message(
            subject=f"{name}.{ns}: advance canary weight {weight}",
            events=(f"Advance {name}.{ns} canary weight {weight}",),
            canary=canaries[key],
            metrics={
                **metrics,
                "request-success-rate": MetricResult.of("request-success-rate", round(rate, 2)),
            },
            webhooks={"load-test": WebhookResult("load-test", ok=True)},
            trailers=trailers,
        )
        when = pygit2.Signature("gitflagger", "gitflagger@localhost", 1_767_225_600 + 30 * number, 0)
        commit = repo.create_commit(None, when, when, message, root, parent)
        writer.forget(commit)
        parent = [commit]
        previous[key] = str(commit)
    latest = {f"{ns}/{name}": oid for (ns, name), oid in previous.items()}
    return str(parent[0]), latest


def _tree(repo: pygit2.Repository, entries: dict[str, pygit2.Oid], mode: int) -> pygit2.Oid:
    builder = repo.TreeBuilder()
    for entry, oid in sorted(entries.items()):
        builder.insert(entry, oid, mode)
    oid: pygit2.Oid = builder.write()
    return oid


def _static_files(repo: pygit2.Repository, ns: str, name: str) -> dict[str, pygit2.Oid]:
    texts = {
        f"service-{name}.yaml": SERVICE.format(ns=ns, obj=name, app=f"{name}-primary"),
        f"service-{name}-primary.yaml": SERVICE.format(ns=ns, obj=f"{name}-primary", app=f"{name}-primary"),
        f"service-{name}-canary.yaml": SERVICE.format(ns=ns, obj=f"{name}-canary", app=name),
        f"destinationrule-{name}-primary.yaml": RULE.format(ns=ns, obj=f"{name}-primary"),
        f"destinationrule-{name}-canary.yaml": RULE.format(ns=ns, obj=f"{name}-canary"),
        f"horizontalpodautoscaler-{name}-primary.yaml": HPA.format(ns=ns, name=name),
    }
    return {file: repo.create_blob(text.encode()) for file, text in texts.items()}


_META = "metadata:\n  name: {obj}\n  namespace: {ns}\n"
SERVICE = (
    "apiVersion: v1\nkind: Service\n"
    + _META
    + ("spec:\n  ports:\n  - name: http\n    port: 9898\n    targetPort: http\n  selector:\n    app: {app}\n")
)
RULE = "apiVersion: networking.istio.io/v1beta1\nkind: DestinationRule\n" + _META + "spec:\n  host: {obj}\n"
HPA = (
    "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: {name}-primary\n"
    "  namespace: {ns}\nspec:\n  maxReplicas: 4\n  minReplicas: 2\n  scaleTargetRef:\n"
    "    apiVersion: apps/v1\n    kind: Deployment\n    name: {name}-primary\n"
)
SNAPSHOT = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {{name: {name}, namespace: {ns}}}
spec:
  analysis:
    interval: 1m
    maxWeight: 50
    metrics:
    - {{name: request-success-rate, interval: 1m, thresholdRange: {{min: 99}}}}
    - {{name: request-duration, interval: 30s, thresholdRange: {{max: 500}}}}
    stepWeight: 10
    threshold: 5
    webhooks:
    - {{name: load-test, url: 'http://flagger-loadtester.test/'}}
  autoscalerRef: {{apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: {name}}}
  service: {{port: 9898, targetPort: 9898}}
  targetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
status:
  canaryWeight: {weight}
  failedChecks: 0
  iterations: 0
  lastAppliedSpec: {revision}
  lastPromotedSpec: {revision}
  lastStepTime: '2026-01-01T00:00:00Z'
  phase: {phase}
  step: {step}
"""
VIRTUAL_SERVICE = """\
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  gateways: [mesh]
  hosts: [{name}]
  http:
  - route:
    - destination: {{host: {name}-primary}}
      weight: {primary}
    - destination: {{host: {name}-canary}}
      weight: {weight}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}-primary, namespace: {ns}}}
spec:
  selector:
    matchLabels: {{app: {name}-primary}}
  template:
    metadata:
      labels: {{app: {name}-primary}}
    spec:
      containers:
      - image: ghcr.io/example/{name}:1.{rollout}.0
        name: app
        ports: [{{containerPort: 9898, name: http}}]
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}}}
"""
