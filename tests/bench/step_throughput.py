"""Item 1, step throughput: decide → render → record for N Canaries in one 5,000-file config repo.

Each Canary plays the promote fixture timeline (11 steps, each a commit)
through :func:`gitflagger.engine.simulate.simulate`, the same pipeline
``gitflagger simulate`` runs; the N Canaries are interleaved round-robin, the
way a controller's pass over its Canaries would commit them, into one
:class:`GitRecorder` on a fresh copy of the seeded repo.

Rows, each a median over repeated runs:

* ``raw commit``: the baseline, commits/s of :class:`RawCommitter` on the same repo;
* ``record only``: the recorder alone, replaying the steps captured from a
  pipeline run (no decide or render), steps/s and its ratio to the baseline;
* ``pipeline N=…``: decide → render → record, steps/s and its ratio to the baseline.

Then one pyinstrument profile of the N=100 pipeline; the self-time leaders go
into the notes and the full text next to the cache (path in the notes).
"""

from __future__ import annotations

import gc
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2

from gitflagger.adapters.git import GitRecorder, RecordResult, Step
from gitflagger.engine.simulate import TickResult, simulate
from tests.bench import fleet
from tests.bench.harness import CACHE, Row, Sample, at_least, ratio

FILES = 5_000
TARGET_STEPS = 500.0
TARGET_RATIO = 0.6


class CapturingRecorder:
    """A :class:`GitRecorder` that also keeps every step it was given (for the record-only replay)."""

    def __init__(self, inner: GitRecorder) -> None:
        self.inner = inner
        self.steps: list[Step] = []

    def record(self, step: Step) -> RecordResult:
        self.steps.append(step)
        return self.inner.record(step)

    def flush(self) -> None:
        self.inner.flush()


def interleaved(gens: list[Iterator[TickResult]]) -> Iterator[TickResult]:
    """Round-robin over the Canaries' step generators until all are done."""
    live = list(gens)
    while live:
        still = []
        for gen in live:
            try:
                yield next(gen)
            except StopIteration:
                continue
            still.append(gen)
        live = still


def pipeline_run(n: int, capture: bool = False) -> tuple[float, int, list[Step], int]:
    """One timed run: (seconds, steps, captured steps, commits)."""
    loads = fleet.workloads(n)
    timeline = fleet.promote_timeline()
    with fleet.seeded_repo(FILES) as path:
        recorder: Any = GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        if capture:
            recorder = CapturingRecorder(recorder)
        gens = [simulate(w, timeline, recorder) for w in loads]
        gc.collect()
        steps = commits = 0
        start = time.perf_counter()
        for tick in interleaved(gens):
            steps += 1
            commits += tick.commit is not None
        seconds = time.perf_counter() - start
        captured = recorder.steps if capture else []
    return seconds, steps, captured, commits


def record_only_run(steps: list[Step]) -> float:
    with fleet.seeded_repo(FILES) as path:
        recorder = GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        gc.collect()
        start = time.perf_counter()
        for step in steps:
            recorder.record(step)
            recorder.flush()
        return time.perf_counter() - start


def raw_run(commits: int) -> float:
    with fleet.seeded_repo(FILES) as path:
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
        recorder = GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        gens = [simulate(w, timeline, recorder) for w in loads]
        profiler = Profiler(interval=0.0005)
        profiler.start()
        for _ in interleaved(gens):
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
        by_function[f"{frame.function} ({frame.file_path_short}:{frame.line_no})"] += frame.total_self_time
        stack.extend((child, stage) for child in frame.children)
    total = sum(by_stage.values()) or 1.0
    stages = ", ".join(f"{k} {v / total:.0%}" for k, v in _most(by_stage))
    top = "; ".join(f"{k} {v / total:.0%}" for k, v in _most(by_function)[:5])
    out = CACHE / "profile-step_throughput.txt"
    out.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    return f"time by stage: {stages}. self-time leaders: {top}", out


def _most(counts: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(counts.items(), key=lambda kv: -kv[1])


_STAGES = {"decide": "decide", "render": "render", "record": "record", "_observe": "observe",
           "_apply": "apply (sim)"}


def _stage(function: str, path: str, current: str) -> str:
    """The pipeline stage a frame belongs to: the outermost stage function on its stack wins."""
    if current != "other":
        return current
    if function in _STAGES and "gitflagger" in path:
        return _STAGES[function]
    return current


def run(quick: bool) -> list[Row]:
    sizes = [100] if quick else [100, 1_000]
    runs = 3
    rows: list[Row] = []
    with fleet.seeded_repo(FILES) as path:
        seeded = fleet.count_files(pygit2.Repository(str(path)))
    raw = Sample.of([raw_run(1_000 if quick else 2_000) for _ in range(runs)])
    rows.append(raw.row(
        "raw pygit2 commit (1 file, tree builders along the path)", "commits/s",
        notes=f"baseline; repo of {seeded} files, path depth {len(fleet.baseline_path())}",
    ))
    captured: list[Step] = []
    for n in sizes:
        n_runs = runs if n <= 100 else 1  # N=1,000 is ~11,000 steps: one run keeps make bench in budget
        results = []
        for i in range(n_runs):
            seconds, steps, steps_list, commits = pipeline_run(n, capture=(i == 0 and n == sizes[0]))
            if steps_list:
                captured = steps_list
            results.append(steps / seconds)
        sample = Sample.of(results)
        rows.append(sample.row(
            f"decide→render→record, N={n:,} canaries", "steps/s",
            target=f"≥ {TARGET_STEPS:.0f} steps/s and ≥ {TARGET_RATIO}× raw commit",
            met=sample.median >= TARGET_STEPS and (ratio(sample.median, raw.median) or 0) >= TARGET_RATIO,
            baseline=raw.median, ratio=ratio(sample.median, raw.median),
            notes=f"{steps} steps, {commits} commits per run ({steps / n:.0f} per canary), one repo",
        ))
    if captured:
        record = Sample.of([len(captured) / record_only_run(captured) for _ in range(runs)])
        rows.append(record.row(
            f"record only (replayed steps, N={sizes[0]})", "steps/s",
            target=f"≥ {TARGET_RATIO}× raw commit",
            met=at_least(ratio(record.median, raw.median), TARGET_RATIO),
            baseline=raw.median, ratio=ratio(record.median, raw.median),
            notes="GitRecorder.record alone: files → blobs/trees → commit → ref CAS → cache ref",
        ))
    summary, where = profile(100)
    rows.append(Row("profile (pyinstrument, N=100 pipeline)", None, "", notes=summary
                    + (f". full report: {where.name} in the bench cache" if where else "")))
    return rows
