"""The benchmark harness: rows, repeated measurements, the table and the JSON report.

Every benchmark module exposes ``run(quick: bool) -> list[Row]`` (a ``dict``
with Row's field names is accepted too, for modules that do not import this
one). The harness runs the selected modules in order; a module that raises, or
cannot be imported, becomes one error row and the others still run.

The whole run has a time budget (``--budget``, 20 minutes by default, 2 with
``--quick``): :func:`remaining` tells a benchmark how much is left, and the
long ones (the controller on the testbed) skip or shorten what no longer fits
and say so in their rows. The report records the total wall time.

Figures are medians over repeated runs (:func:`repeat`); each row says how many
runs (``n``) and their spread (``low``..``high``). A ratio is always against a
baseline measured in the same process, in the same run, on the same data.
Nothing here passes or fails: ``met`` is information for the reader.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CACHE = Path.home() / ".cache" / "gitflagger" / "bench"
BUDGET, QUICK_BUDGET = 1_200.0, 120.0
"""Seconds for ``make bench`` and ``make bench-quick`` on a warm testbed (issue #7)."""

_deadline: float | None = None


def set_budget(seconds: float | None) -> None:
    """Start the run's clock: :func:`remaining` counts down from ``seconds`` (None: no budget)."""
    global _deadline
    _deadline = None if seconds is None else time.monotonic() + seconds


def remaining() -> float | None:
    """Seconds left in the run's budget (may be negative); None when there is no budget."""
    return None if _deadline is None else _deadline - time.monotonic()


@dataclass
class Row:
    """One reported figure."""

    name: str
    value: float | None
    unit: str
    target: str = ""
    """What we aim for, as text: ``≥ 500 steps/s``."""
    met: bool | None = None
    """``None``: no target, or not measured."""
    baseline: float | None = None
    """The same-run baseline figure, in the same unit as ``value``."""
    ratio: float | None = None
    """``value / baseline`` unless the benchmark says otherwise in ``notes``."""
    notes: str = ""
    n: int = 1
    """Repeated runs behind ``value`` (the median of them)."""
    low: float | None = None
    high: float | None = None
    """The spread of those runs (min and max)."""
    benchmark: str = ""
    """The module that produced the row; the harness fills it in."""
    error: str | None = None

    @classmethod
    def from_any(cls, raw: Row | Mapping[str, Any], benchmark: str) -> Row:
        if isinstance(raw, Row):
            row = raw
        else:
            known = {f.name for f in dataclasses.fields(cls)}
            extra = {k: v for k, v in raw.items() if k not in known}
            row = cls(**{k: v for k, v in raw.items() if k in known})
            if extra:
                more = ", ".join(f"{k}={v}" for k, v in extra.items())
                row.notes = f"{row.notes}; {more}" if row.notes else more
        row.benchmark = row.benchmark or benchmark
        return row

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Sample:
    """A median over ``n`` runs, with its spread."""

    median: float
    n: int
    low: float
    high: float
    values: tuple[float, ...] = field(repr=False, default=())

    @classmethod
    def of(cls, values: Sequence[float]) -> Sample:
        if not values:
            raise ValueError("no values to summarise")
        return cls(statistics.median(values), len(values), min(values), max(values), tuple(values))

    def map(self, fn: Callable[[float], float]) -> Sample:
        """The same runs through ``fn`` (e.g. seconds → per-second); low/high follow ``fn``."""
        mapped = [fn(v) for v in self.values] if self.values else [fn(self.median)]
        return Sample.of(mapped)

    def row(self, name: str, unit: str, **kwargs: Any) -> Row:
        return Row(name, self.median, unit, n=self.n, low=self.low, high=self.high, **kwargs)


def repeat(fn: Callable[[], float], runs: int, warmup: int = 0) -> Sample:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times; it returns its own figure."""
    for _ in range(warmup):
        fn()
    return Sample.of([fn() for _ in range(runs)])


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or not baseline:
        return None
    return value / baseline


# ---- running benchmarks -------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    quick: bool
    """Part of ``--quick``."""
    missing: str = ""
    """What to say when the module is not there (another engineer's, not landed yet)."""


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark("step_throughput", "tests.bench.step_throughput", quick=True),
    Benchmark("history", "tests.bench.history", quick=True, missing="not available yet"),
    Benchmark("decide_core", "tests.bench.decide_core", quick=True),
    Benchmark("report", "tests.bench.report", quick=True),
    Benchmark("push_batching", "tests.bench.push_batching", quick=False),
    Benchmark("large_manifest", "tests.bench.large_manifest", quick=False),
    Benchmark("controller_scale", "tests.bench.controller_scale", quick=False),
    Benchmark("flagger_side_by_side", "tests.bench.flagger_side_by_side", quick=False),
    Benchmark("gitops_latency", "tests.bench.gitops_latency", quick=False),
)


@dataclass
class Outcome:
    name: str
    seconds: float
    rows: list[Row]
    error: str | None = None


def run_benchmark(bench: Benchmark, quick: bool) -> Outcome:
    """Import and run one benchmark; every failure becomes an error row, never an exception."""
    start = time.perf_counter()
    try:
        module = importlib.import_module(bench.module)
    except ModuleNotFoundError as err:
        if err.name == bench.module and bench.missing:
            row = Row(bench.name, None, "", notes=bench.missing, benchmark=bench.name)
            return Outcome(bench.name, time.perf_counter() - start, [row], None)
        return _failed(bench, start)
    except Exception:
        return _failed(bench, start)
    try:
        raw = module.run(quick)
        rows = [Row.from_any(r, bench.name) for r in raw]
    except Exception:
        return _failed(bench, start)
    return Outcome(bench.name, time.perf_counter() - start, rows)


def _failed(bench: Benchmark, start: float) -> Outcome:
    text = traceback.format_exc()
    last = text.strip().splitlines()[-1] if text.strip() else "unknown error"
    row = Row(bench.name, None, "", notes="error", benchmark=bench.name, error=last)
    return Outcome(bench.name, time.perf_counter() - start, [row], text)


def select(only: Iterable[str] | None, quick: bool) -> list[Benchmark]:
    names = [n for item in (only or ()) for n in item.split(",") if n]
    if names:
        known = {b.name: b for b in BENCHMARKS}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(known)}")
        return [known[n] for n in names]
    return [b for b in BENCHMARKS if b.quick or not quick]


def machine() -> dict[str, Any]:
    import pygit2

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "pygit2": getattr(pygit2, "__version__", "?"),
        "libgit2": pygit2.LIBGIT2_VERSION,
    }


def report(outcomes: Sequence[Outcome], quick: bool, wall_seconds: float | None = None,
           budget: float | None = None) -> dict[str, Any]:
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": quick,
        "wall_seconds": None if wall_seconds is None else round(wall_seconds, 1),
        "budget_seconds": budget,
        "machine": machine(),
        "benchmarks": [
            {"name": o.name, "seconds": round(o.seconds, 3), "error": o.error, "rows": len(o.rows)}
            for o in outcomes
        ],
        "rows": [r.to_json() for o in outcomes for r in o.rows],
    }


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.01:
        return f"{value:.3g}"
    return f"{value:.2e}"


def table(outcomes: Sequence[Outcome]) -> Any:
    from rich.table import Table

    out = Table(title="gitflagger benchmarks (medians)", show_lines=False)
    for col, justify in (
        ("benchmark", "left"), ("figure", "left"), ("value", "right"), ("unit", "left"),
        ("n", "right"), ("spread", "right"), ("target", "left"), ("met", "center"),
        ("baseline", "right"), ("ratio", "right"), ("notes", "left"),
    ):
        out.add_column(col, justify=justify)  # type: ignore[arg-type]
    for outcome in outcomes:
        for row in outcome.rows:
            spread = f"{_fmt(row.low)}–{_fmt(row.high)}" if row.low is not None and row.n > 1 else ""
            met = {True: "[green]yes[/]", False: "[red]no[/]", None: ""}[row.met]
            notes = f"[red]{row.error}[/]" if row.error else row.notes
            out.add_row(
                row.benchmark, row.name, _fmt(row.value), row.unit, str(row.n), spread, row.target, met,
                _fmt(row.baseline), f"{row.ratio:.2f}×" if row.ratio is not None else "", notes,
            )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    from rich.console import Console

    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small N, the quick benchmarks only (< 2 min)")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark (repeatable, or comma-separated): "
                        + ", ".join(b.name for b in BENCHMARKS))
    parser.add_argument("--budget", type=float, metavar="SECONDS",
                        help=f"time budget for the run (default {BUDGET:.0f}, --quick {QUICK_BUDGET:.0f}; "
                        "0: none); long benchmarks skip what does not fit")
    args = parser.parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 200)
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if args.quick else BUDGET)
    began = time.monotonic()
    set_budget(budget or None)
    outcomes: list[Outcome] = []
    for bench in select(args.only, args.quick):
        console.print(f"[bold]running {bench.name}[/] ...")
        outcome = run_benchmark(bench, args.quick)
        if outcome.error:
            console.print(f"[red]{bench.name} failed[/]:\n{outcome.error}")
        console.print(f"  {bench.name}: {len(outcome.rows)} rows in {outcome.seconds:.1f} s")
        outcomes.append(outcome)
    wall = time.monotonic() - began
    console.print(table(outcomes))
    console.print(f"total wall time {wall:.0f} s" + (f" (budget {budget:.0f} s)" if budget else ""))
    if args.report:
        body = report(outcomes, args.quick, wall, budget or None)
        args.report.write_text(json.dumps(body, indent=2) + "\n")
        console.print(f"report written to {args.report}")
    sys.stdout.flush()
    return 0
