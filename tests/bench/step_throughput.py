"""Item 1, step throughput: decide → render → record for N Canaries in one 5,000-file config repo.

Each Canary plays a healthy release (:func:`tests.bench.fleet.promote_timeline`, ~11 commits)
through :func:`gitflagger.engine.simulate.simulate`, the same pipeline
``gitflagger simulate`` runs; the N Canaries are interleaved round-robin, the
way a controller's pass over its Canaries would commit them, into one
:class:`GitRecorder` on a fresh copy of the seeded repo. Each round is one
pass, recorded with the controller's batch API (:class:`PassRecorder`).

Rows, each a median over repeated runs:

* ``raw commit``: the baseline, commits/s of :class:`RawCommitter` on the same repo
  (one commit at a time, loose objects: the raw cost the issue names);
* ``pipeline N=…``: decide → render → record, one batch per pass, steps/s and
  its ratio to the baseline; the time includes each pass's ``persist()``;
* ``unbatched``: the same at N=100 with each step committed on its own (the
  recorder without batches, as before);
* ``record only``: the recorder alone, replaying the steps captured from a
  pipeline run (no decide or render), one batch per pass.

Then (not with --quick) the record stage alone, loose-object write cost on disk and tmpfs, and
one pyinstrument profile of the N=100 pipeline; the self-time leaders go
into the notes and the full text next to the cache (path in the notes).
"""

from __future__ import annotations

import gc
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pygit2

from gitflagger.adapters.git import GitRecorder, RecordedStep, RecordResult
from gitflagger.engine.simulate import TickResult, simulate
from tests.bench import fleet
from tests.bench.harness import CACHE, Row, Sample

FILES = 5_000
RAW_COMMITS = 1_000
TARGET_STEPS = 500.0
TARGET_RATIO = 0.6


class CapturingRecorder:
    """A :class:`GitRecorder` that also keeps every step it was given (for the record-only replay)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.steps: list[tuple[int, RecordedStep]] = []
        """(pass number, step) in recording order."""

    def record(self, step: RecordedStep) -> RecordResult:
        self.steps.append((getattr(self.inner, "passes", 0), step))
        return self.inner.record(step)

    def flush(self) -> None:
        self.inner.flush()


class PassRecorder:
    """What :func:`simulate` sees of the controller's recorder during a pass.

    :func:`simulate` plays one Canary and flushes after each step; a controller
    (``Controller.run_pass``) records the steps of every due Canary into one
    batch (``begin``), makes it durable once (``persist``: one pack, one branch
    update, the index refs) and only then applies. So ``flush`` here does
    nothing, and :func:`interleaved` opens and persists a batch per round, each
    round being one pass over the N Canaries. Unbatched, each step is committed
    on its own (loose objects and a branch update per step), the old way.
    """

    def __init__(self, inner: GitRecorder, batched: bool) -> None:
        self.inner = inner
        self.batched = batched
        self.passes = 0

    def record(self, step: RecordedStep) -> RecordResult:
        return self.inner.record(step)

    def flush(self) -> None:
        pass

    def begin(self) -> None:
        self.passes += 1
        if self.batched:
            self.inner.begin()

    def end_pass(self) -> None:
        if self.batched:
            self.inner.persist()
        self.inner.flush()


def interleaved(
    gens: list[Iterator[TickResult]], recorder: PassRecorder | None = None
) -> Iterator[TickResult]:
    """Round-robin over the Canaries' step generators until all are done; a round is one pass."""
    live = list(gens)
    while live:
        still = []
        if recorder is not None:
            recorder.begin()
        for gen in live:
            try:
                yield next(gen)
            except StopIteration:
                continue
            still.append(gen)
        if recorder is not None:
            recorder.end_pass()
        live = still


def pipeline_run(
    n: int, capture: bool = False, where: str | None = None, batched: bool = True
) -> tuple[float, int, list[RecordedStep], int]:
    """One timed run: (seconds, steps, captured steps, commits). The end of each pass is timed too."""
    loads = fleet.workloads(n)
    timeline = fleet.promote_timeline()
    with fleet.seeded_repo(FILES, where) as path:
        git = GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        passes = PassRecorder(git, batched)
        recorder: Any = CapturingRecorder(passes) if capture else passes
        gens = [simulate(w, timeline, recorder) for w in loads]
        gc.collect()
        steps = commits = 0
        start = time.perf_counter()
        for tick in interleaved(gens, passes):
            steps += 1
            commits += len(tick.commits)
        seconds = time.perf_counter() - start
        captured = recorder.steps if capture else []
        _check_recorded(git, commits)
    return seconds, steps, captured, commits


def _check_recorded(recorder: GitRecorder, commits: int) -> None:
    """The run's commits are all on the branch (a benchmark that lost them would measure nothing)."""
    repo = pygit2.Repository(recorder.repo.path)
    found = 0
    commit = repo.revparse_single(fleet.BRANCH).peel(pygit2.Commit)
    while commit.parents:
        found += 1
        commit = commit.parents[0]
    if found != commits:
        raise RuntimeError(f"{commits} commits made but {found} on the branch")


def record_only_run(steps: list[tuple[int, RecordedStep]]) -> float:
    """The captured steps replayed pass by pass: one batch per pass, as they were recorded."""
    with fleet.seeded_repo(FILES) as path:
        recorder = GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        gc.collect()
        start = time.perf_counter()
        current = None
        for number, step in steps:
            if number != current:
                if current is not None:
                    recorder.flush()
                recorder.begin()
                current = number
            recorder.record(step)
        recorder.flush()
        return time.perf_counter() - start


def raw_run(commits: int, where: str | None = None) -> float:
    with fleet.seeded_repo(FILES, where) as path:
        repo = pygit2.Repository(str(path))
        committer = fleet.RawCommitter(repo, fleet.baseline_path())
        for _ in range(20):
            committer.commit()
        gc.collect()
        start = time.perf_counter()
        for _ in range(commits):
            committer.commit()
        return commits / (time.perf_counter() - start)


def profile(n: int) -> tuple[str, Path | None]:
    """Profile one pipeline run with pyinstrument: a one-line summary and the full text report."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "pyinstrument not installed (pip install -e '.[dev]')", None
    loads = fleet.workloads(n)
    timeline = fleet.promote_timeline()
    with fleet.seeded_repo(FILES) as path:
        recorder = PassRecorder(GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX), True)
        gens = [simulate(w, timeline, recorder) for w in loads]
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in interleaved(gens, recorder):
            pass
        profiler.stop()
    session = profiler.last_session
    root = session.root_frame() if session is not None else None
    if root is None:
        return "no samples", None
    by_stage: dict[str, float] = defaultdict(float)
    by_function: dict[str, float] = defaultdict(float)
    stack = [(root, "other")]
    while stack:
        frame, stage = stack.pop()
        stage = _stage(frame.function or "", frame.file_path_short or "", stage)
        by_stage[stage] += frame.total_self_time
        if frame.function and not frame.function.startswith("["):
            where = f"{frame.function} ({frame.file_path_short}:{frame.line_no})"
            by_function[where] += frame.total_self_time
        stack.extend((child, stage) for child in frame.children)
    total = sum(by_stage.values()) or 1.0
    stages = ", ".join(f"{k} {v / total:.0%}" for k, v in _most(by_stage))
    top = "; ".join(f"{k} {v / total:.0%}" for k, v in _most(by_function)[:5])
    out = CACHE / "profile-step_throughput.txt"
    out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return f"time by stage: {stages}. self-time leaders: {top}", out


def _most(counts: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda kv: -kv[1])


_STAGES = {"decide": "decide", "render": "render", "record": "record", "_observe": "observe (sim)",
           "_apply": "apply (sim)"}


_YAML = ("dump_canonical",)
_LIBGIT2 = ("create_blob", "write", "create_commit", "set_target", "create_reference_direct", "peel",
            "__getitem__", "get", "walk")


def _stage(function: str, path: str, current: str) -> str:
    """The pipeline stage of a frame: the outermost stage function on its stack, with the record
    stage split into canonical YAML, libgit2 calls and the recorder's own Python."""
    if current == "other":
        return _STAGES[function] if function in _STAGES and "gitflagger" in path else current
    if current == "record":
        if function in _YAML:
            return "record: canonical YAML"
        if path == "<built-in>" and function.rsplit(".", 1)[-1] in _LIBGIT2:
            return "record: libgit2 (objects, refs)"
    return current


def loose_write_us(where: str | None, count: int = 500) -> float:
    """µs to write one new loose object (a ~1 KiB blob) in a fresh repo under ``where``."""
    with tempfile.TemporaryDirectory(prefix="gitflagger-bench-odb-", dir=where) as tmp:
        repo = pygit2.init_repository(tmp, bare=True)
        start = time.perf_counter()
        for i in range(count):
            repo.create_blob(b"object %d\n" % i + b"x" * 1_000)
        return (time.perf_counter() - start) / count * 1e6


@dataclass
class Paired:
    """Throughputs, each measured between two raw-commit runs; the ratio is per pair."""

    rate: Sample
    baseline: Sample
    ratio: Sample


def paired(measure: Callable[[], float], reps: int, where: str | None = None) -> Paired:
    rates, bases, ratios = [], [], []
    for _ in range(reps):
        before = raw_run(RAW_COMMITS, where)
        rate = measure()
        base = (before + raw_run(RAW_COMMITS, where)) / 2
        rates.append(rate)
        bases.append(base)
        ratios.append(rate / base)
    return Paired(Sample.of(rates), Sample.of(bases), Sample.of(ratios))


def _row(name: str, p: Paired, notes: str, target: bool = True) -> Row:
    met = p.rate.median >= TARGET_STEPS and p.ratio.median >= TARGET_RATIO
    return p.rate.row(
        name, "steps/s",
        target=f"≥ {TARGET_STEPS:.0f} steps/s and ≥ {TARGET_RATIO}× raw commit" if target else "",
        met=met if target else None, baseline=p.baseline.median, ratio=p.ratio.median,
        notes=f"{notes}; ratio = median of per-run ratios, each against raw commits measured "
        f"just before and after (ratio spread {p.ratio.low:.2f}–{p.ratio.high:.2f})",
    )


def run(quick: bool) -> list[Row]:
    sizes = [100] if quick else [100, 1_000]
    runs = 1 if quick else 3  # --quick must stay under 2 minutes on this machine; one paired run
    rows: list[Row] = []
    with fleet.seeded_repo(FILES) as path:
        seeded = fleet.count_files(pygit2.Repository(str(path)))
    raw = Sample.of([raw_run(RAW_COMMITS) for _ in range(max(runs, 3))])
    rows.append(raw.row(
        "raw pygit2 commit (1 file, tree builders along the path)", "commits/s",
        notes=f"baseline; repo of {seeded} files, path depth {len(fleet.baseline_path())}; "
        "each throughput row below is paired with its own raw runs",
    ))
    captured: list[tuple[int, RecordedStep]] = []
    for n in sizes:
        facts: dict[str, int] = {}

        def measure(n: int = n, facts: dict[str, int] = facts) -> float:
            nonlocal captured
            seconds, steps, steps_list, commits = pipeline_run(n, capture=not captured)
            captured = captured or steps_list
            facts.update(steps=steps, commits=commits)
            return steps / seconds

        p = paired(measure, runs if n <= 100 else 1)  # N=1,000 is ~11,000 steps: one run
        rows.append(_row(f"decide→render→record, N={n:,} canaries, one batch per pass", p,
                         f"{facts['steps']} steps, {facts['commits']} commits per run, one repo; a pass "
                         f"(one round over the N) is recorded as the controller records it: begin(), "
                         f"the records, persist() (one pack, one branch update, the index refs)"))
    if quick:
        return rows  # the breakdown rows (unbatched, record only, storage, profile) are make bench only
    p = paired(lambda: (lambda r: r[1] / r[0])(pipeline_run(sizes[0], batched=False)), runs)
    rows.append(_row(f"decide→render→record, N={sizes[0]}, unbatched (before batches)", p,
                     "each step committed on its own: loose objects, a branch update and an index ref "
                     "per step (GitRecorder without begin(): reconcile_one, simulate)", target=False))
    if captured:
        steps = captured
        p = paired(lambda: len(steps) / record_only_run(steps), runs)
        rows.append(_row(f"record only (replayed steps, N={sizes[0]}, one batch per pass)", p,
                         "GitRecorder.record alone: YAML → blobs/trees → commit in memory; "
                         "per pass: pack, branch CAS, packed index refs"))
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    disk = Sample.of([loose_write_us(None) for _ in range(runs)])
    rows.append(disk.row("one new loose object (1 KiB blob), bench temp dir", "µs",
                         notes="the storage cost under every commit: a step writes ~10 new objects"))
    if shm:
        mem = Sample.of([loose_write_us(shm) for _ in range(runs)])
        rows.append(mem.row("one new loose object (1 KiB blob), tmpfs", "µs",
                            baseline=disk.median, ratio=mem.median / disk.median,
                            notes="ratio against the bench temp dir"))
        p = paired(lambda: (lambda r: r[1] / r[0])(pipeline_run(sizes[0], where=shm)), runs, shm)
        rows.append(_row(f"decide→render→record, N={sizes[0]}, repo on tmpfs", p,
                         "same pipeline with the repo in memory: what is left when storage is fast"))
    summary, where = profile(100)
    rows.append(Row("profile (pyinstrument, N=100 pipeline)", None, "", notes=summary
                    + (f". full report: {where.name} in the bench cache" if where else "")))
    return rows
