"""The benchmark harness's machinery on a fake benchmark: rows, errors, the table and the JSON report.

No timing is asserted anywhere: benchmarks are not tests.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bench import harness
from tests.bench.harness import Benchmark, Row, Sample


@pytest.fixture
def fake_benchmarks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    good = types.ModuleType("fake_bench_good")

    def run_good(quick: bool) -> list[Row | dict[str, object]]:
        sample = Sample.of([3.0, 1.0, 2.0])
        return [
            sample.row(
                "steps", "steps/s", target="≥ 2 steps/s", met=sample.median >= 2, baseline=4.0, ratio=0.5
            ),
            {"name": "from a dict", "value": 7, "unit": "ms", "extra": "kept in notes"},
        ]

    good.run = run_good  # type: ignore[attr-defined]
    broken = types.ModuleType("fake_bench_broken")

    def run_broken(quick: bool) -> list[Row]:
        raise ValueError("boom")

    broken.run = run_broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_bench_good", good)
    monkeypatch.setitem(sys.modules, "fake_bench_broken", broken)
    monkeypatch.setattr(harness, "BENCHMARKS", (
        Benchmark("good", "fake_bench_good", quick=True),
        Benchmark("broken", "fake_bench_broken", quick=True),
        Benchmark("missing", "fake_bench_not_there", quick=True, missing="not available yet"),
        Benchmark("slow", "fake_bench_good", quick=False),
    ))
    monkeypatch.setattr(harness, "machine", lambda: {"cpus": 2})
    yield


def test_quick_report_has_rows_errors_and_missing_modules(fake_benchmarks: None, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert harness.main(["--quick", "--report", str(out)]) == 0
    report = json.loads(out.read_text())

    assert set(report) == {"generated", "quick", "machine", "benchmarks", "rows", "wall_seconds",
                           "budget_seconds"}
    assert report["quick"] is True
    assert isinstance(report["wall_seconds"], float) and report["wall_seconds"] >= 0
    assert [b["name"] for b in report["benchmarks"]] == ["good", "broken", "missing"]
    rows = {(r["benchmark"], r["name"]): r for r in report["rows"]}
    steps = rows[("good", "steps")]
    assert (steps["value"], steps["n"], steps["low"], steps["high"]) == (2.0, 3, 1.0, 3.0)
    assert (steps["met"], steps["baseline"], steps["ratio"]) == (True, 4.0, 0.5)
    assert steps["target"] == "≥ 2 steps/s"
    assert rows[("good", "from a dict")]["notes"] == "extra=kept in notes"
    assert "ValueError: boom" in rows[("broken", "broken")]["error"]
    assert report["benchmarks"][1]["error"]
    assert rows[("missing", "missing")]["notes"] == "not available yet"
    assert rows[("missing", "missing")]["error"] is None
    for row in report["rows"]:
        assert set(row) == {f for f in Row.__dataclass_fields__}


def test_only_selects_by_name_and_refuses_unknown_names(fake_benchmarks: None, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    harness.main(["--only", "slow", "--report", str(out)])
    assert [b["name"] for b in json.loads(out.read_text())["benchmarks"]] == ["slow"]
    with pytest.raises(SystemExit, match="unknown benchmark"):
        harness.main(["--only", "nope"])


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert harness.percentile(values, 50) == 50
    assert harness.percentile(values, 99) == 99
    assert harness.percentile([5.0], 99) == 5.0
