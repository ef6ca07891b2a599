"""Item 4, the decision core: ``decide()`` + ``render`` per step, CPU time and allocation.

The steps are the real ones: one simulated release (the promote timeline) of a
few podinfo Canaries through :func:`gitflagger.engine.simulate.simulate`, with
``decide`` and ``render`` wrapped to keep a deep copy of their arguments. The
replay then calls the real functions on those arguments, over and over, and
divides ``time.process_time`` by the number of steps: CPU time, not wall time,
so another process on the machine does not count.

Rows:

* ``decide + render``: the pure core, target ≤ 1 ms CPU per step;
* ``+ canonical YAML``: plus :func:`dump_canonical` of every manifest the step
  writes to git (the record stage's serialisation), for comparison;
* allocation: tracemalloc's peak above the baseline during one step, and the
  bytes still held after it (should be ~0: the core keeps nothing).
"""

from __future__ import annotations

import copy
import gc
import importlib
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gitflagger.adapters.git import GitRecorder
from gitflagger.decide import decide
from gitflagger.engine.simulate import simulate
from gitflagger.render import render
from gitflagger.render.yaml import dump_canonical
from tests.bench import fleet
from tests.bench.harness import Row, Sample, at_most
from tests.bench.step_throughput import interleaved

TARGET_US = 1_000.0
_PATCHED_MODULES = ("gitflagger.engine.simulate", "gitflagger.engine.plan")


@dataclass
class Captured:
    decide_args: tuple[Any, ...]
    render_args: tuple[Any, ...] | None = None


@contextmanager
def capturing() -> Iterator[list[Captured]]:
    """Wrap ``decide`` and ``render`` where the simulate pipeline looks them up."""
    steps: list[Captured] = []

    def wrap_decide(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            steps.append(Captured(copy.deepcopy(args)))
            return real(*args)
        return wrapper

    def wrap_render(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any) -> Any:
            if steps and steps[-1].render_args is None:
                steps[-1].render_args = copy.deepcopy(args[:2])
            return real(*args)
        return wrapper

    saved: list[tuple[Any, str, Any]] = []
    for name in _PATCHED_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for attr, wrap in (("decide", wrap_decide), ("render", wrap_render)):
            if hasattr(module, attr):
                saved.append((module, attr, getattr(module, attr)))
                setattr(module, attr, wrap(getattr(module, attr)))
    try:
        yield steps
    finally:
        for module, attr, real in saved:
            setattr(module, attr, real)


def captured_steps(canaries: int) -> list[Captured]:
    loads = fleet.workloads(canaries)
    timeline = fleet.promote_timeline()
    with fleet.seeded_repo(fleet_files()) as path, capturing() as steps:
        recorder = GitRecorder(str(path), branch=fleet.BRANCH, prefix=fleet.PREFIX)
        for _ in interleaved([simulate(w, timeline, recorder) for w in loads]):
            pass
    complete = [s for s in steps if s.render_args is not None]
    if not complete:
        raise RuntimeError("captured no decide+render steps (the simulate pipeline changed shape?)")
    return complete


def fleet_files() -> int:
    return 5_000


def one_step(step: Captured, with_yaml: bool) -> None:
    decision = decide(*step.decide_args)
    assert step.render_args is not None
    canary, inputs = step.render_args
    manifests = render(canary, inputs, decision)
    if with_yaml:
        for manifest in manifests:
            if not manifest.secret:
                dump_canonical(manifest.obj)


def cpu_per_step(steps: list[Captured], with_yaml: bool, min_seconds: float) -> float:
    """CPU µs per step over enough passes to last ``min_seconds``."""
    gc.collect()
    done = 0
    start = time.process_time()
    while True:
        for step in steps:
            one_step(step, with_yaml)
        done += len(steps)
        spent = time.process_time() - start
        if spent >= min_seconds:
            return spent / done * 1e6


def allocation(steps: list[Captured], with_yaml: bool) -> tuple[float, float]:
    """Median peak KiB allocated during a step, and median KiB still held after it."""
    peaks, held = [], []
    for step in steps:  # warm caches (imports, regex compiles) outside the trace
        one_step(step, with_yaml)
    gc.collect()
    tracemalloc.start()
    try:
        for step in steps:
            before, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            one_step(step, with_yaml)
            after, peak = tracemalloc.get_traced_memory()
            peaks.append((peak - before) / 1024)
            held.append((after - before) / 1024)
    finally:
        tracemalloc.stop()
    return Sample.of(peaks).median, Sample.of(held).median


def run(quick: bool) -> list[Row]:
    steps = captured_steps(3 if quick else 10)
    runs, seconds = (3, 0.5) if quick else (5, 1.5)
    rows = []
    core = Sample.of([cpu_per_step(steps, False, seconds) for _ in range(runs)])
    rows.append(core.row(
        "decide() + render, CPU per step", "µs", target=f"≤ {TARGET_US:.0f} µs",
        met=at_most(core.median, TARGET_US),
        notes=f"{len(steps)} distinct steps of a promote release, replayed; time.process_time",
    ))
    full = Sample.of([cpu_per_step(steps, True, seconds) for _ in range(runs)])
    rows.append(full.row(
        "decide() + render + canonical YAML of every file, CPU per step", "µs",
        baseline=core.median, ratio=full.median / core.median,
        notes="what the record stage adds before git: dump_canonical of each non-secret manifest; "
        "ratio is against decide()+render",
    ))
    for with_yaml, label in ((False, "decide() + render"), (True, "decide() + render + YAML")):
        peak, held = allocation(steps, with_yaml)
        rows.append(Row(f"{label}, allocation per step (tracemalloc peak)", peak, "KiB",
                        n=len(steps), notes=f"median over steps; still held after the step: {held:.1f} KiB"))
    return rows
