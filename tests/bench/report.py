"""Report benchmark: ``gitflagger report`` of a rollout of more than 100 steps (target ≤ 500 KB, < 1 s).

The rollout is real: the podinfo Canary with ``stepWeight: 1`` and ``maxWeight: 99``
run through ``gitflagger simulate`` (99 weight steps, then promotion), with the
success rate wandering every few ticks so each step has a metric point. The time
is the whole command in-process: open the repo, read every step (trailers,
evidence, diff), render the charts and the page, and write the file. The size is
the file written.

``python -m tests.bench --quick`` runs it; it is not a timed test.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from click.testing import CliRunner

from gitflagger.cli.main import cli
from tests.bench.harness import Row, at_most, repeat

ROOT = Path(__file__).resolve().parents[2]
TARGET_KB = 500
TARGET_MS = 1000


def build(where: Path) -> tuple[Path, int]:
    """A config repo holding one 100+-step rollout of test/podinfo; (repo, steps of that rollout)."""
    canary = (ROOT / "fixtures/podinfo/canary.yaml").read_text()
    canary = canary.replace("maxWeight: 50", "maxWeight: 99").replace("stepWeight: 10", "stepWeight: 1")
    (where / "canary.yaml").write_text(canary)
    lines = ["- tick: 0", "  metrics: {request-success-rate: 99.9, request-duration: 120}",
             "- tick: 1", "  image: ghcr.io/stefanprodan/podinfo:6.0.1"]
    for tick in range(3, 110, 3):
        lines += [f"- tick: {tick}", f"  metrics: {{request-success-rate: {99.2 + (tick % 7) / 10:.1f}, "
                  f"request-duration: {100 + tick % 50}}}"]
    (where / "timeline.yaml").write_text("\n".join(lines) + "\n")
    repo = where / "config.git"
    files = [str(where / "canary.yaml"), str(ROOT / "fixtures/podinfo/deployment.yaml"),
             str(ROOT / "fixtures/podinfo/hpa.yaml")]
    result = CliRunner().invoke(cli, ["simulate", *files, "--timeline", str(where / "timeline.yaml"),
                                      "--repo", str(repo), "--max-ticks", "150", "-o", "json"])
    assert result.exit_code == 0, result.output
    out = CliRunner().invoke(cli, ["history", "test/podinfo", "--repo", str(repo), "-o", "json"])
    steps = json.loads(out.stdout)["steps"]
    revision = steps[0]["revision"]  # the newest step's: the 100+-step rollout
    return repo, sum(1 for s in steps if s["revision"] == revision)


def run(quick: bool) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="gitflagger-report-bench-") as tmp:
        where = Path(tmp)
        repo, steps = build(where)
        out = where / "report.html"
        args = ["report", "test/podinfo", "--repo", str(repo), "--out", str(out)]

        def once() -> float:
            start = time.perf_counter()
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 0, result.output
            return (time.perf_counter() - start) * 1000

        sample = repeat(once, 3 if quick else 10, warmup=1)
        size_kb = out.stat().st_size / 1024
    return [
        sample.row(f"report of a {steps}-step rollout: read, render, write", "ms",
                   target=f"< {TARGET_MS} ms", met=sample.median < TARGET_MS,
                   notes="in-process CliRunner; a new process adds the interpreter's start-up"),
        Row(f"report of a {steps}-step rollout: file size", size_kb, "KB", target=f"≤ {TARGET_KB} KB",
            met=at_most(size_kb, TARGET_KB), notes="one self-contained HTML file, diffs included"),
    ]


if __name__ == "__main__":
    for row in run(quick=False):
        print(f"{row.name}: {row.value:.1f} {row.unit} (target {row.target}, met: {row.met})")
