"""The ``flagger_*`` series carry exactly Flagger's label names, so Flagger's dashboards and alerts work.

The table is read from fluxcd/flagger ``pkg/metrics/recorder.go`` (``NewRecorder``): each
vector's label names, and ``CanaryMetricLabels.Values()`` for successes and failures
(``name, namespace, deployment_strategy, analysis_status``). Flagger's ``name`` label is
the Canary's ``targetRef.name`` in every series.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gitflagger.engine.telemetry import Telemetry
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World

FLAGGER_LABELS = {
    "flagger_info": {"version", "mesh_provider"},
    "flagger_canary_duration_seconds": {"name", "namespace"},
    "flagger_canary_total": {"namespace"},
    "flagger_canary_status": {"name", "namespace"},
    "flagger_canary_weight": {"workload", "namespace"},
    "flagger_canary_metric_analysis": {"name", "namespace", "metric"},
    "flagger_canary_successes": {"name", "namespace", "deployment_strategy", "analysis_status"},
    "flagger_canary_failures": {"name", "namespace", "deployment_strategy", "analysis_status"},
}
HISTOGRAM_ONLY = {"le"}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield World(tmp_path, prometheus, hooks)


def _label_sets(telemetry: Telemetry) -> dict[str, set[frozenset[str]]]:
    """Family name → every label-name set its samples carry (``_created`` series left out)."""
    out: dict[str, set[frozenset[str]]] = {}
    for family in telemetry.registry.collect():
        name = f"{family.name}_info" if family.type == "info" else family.name  # Info drops its suffix
        if not name.startswith("flagger_"):
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            out.setdefault(name, set()).add(frozenset(sample.labels) - HISTOGRAM_ONLY)
    return out


def test_every_flagger_series_after_a_release_and_a_rollback_has_flaggers_label_names(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.until("Succeeded")
    world.set_image("6.0.2")
    world.metrics.success_rate = 50.0
    world.until("Failed")
    world.ctx.telemetry.canary_total.labels("test").set(1)  # the controller's per-pass count

    seen = _label_sets(world.ctx.telemetry)

    assert set(seen) == set(FLAGGER_LABELS), "every Flagger series is exported, and no other flagger_ one"
    for name, labels in FLAGGER_LABELS.items():
        assert seen[name] == {frozenset(labels)}, name


def test_successes_and_failures_carry_analysis_status_as_flagger_counts_them(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.until("Succeeded")
    world.set_image("6.0.2")
    world.metrics.success_rate = 50.0
    world.until("Failed")

    sample = world.ctx.telemetry.registry.get_sample_value
    common = {"name": "podinfo", "namespace": "test", "deployment_strategy": "canary"}
    assert sample("flagger_canary_successes_total", {**common, "analysis_status": "completed"}) == 1
    assert sample("flagger_canary_failures_total", {**common, "analysis_status": "completed"}) == 1
    assert sample("flagger_canary_successes_total", {**common, "analysis_status": "skipped"}) is None


def test_a_promotion_under_skip_analysis_counts_as_skipped(world: World) -> None:
    world.initialized()
    world.canary["spec"]["skipAnalysis"] = True
    world.set_image("6.0.1")
    world.until("Succeeded")

    sample = world.ctx.telemetry.registry.get_sample_value
    common = {"name": "podinfo", "namespace": "test", "deployment_strategy": "canary"}
    assert sample("flagger_canary_successes_total", {**common, "analysis_status": "skipped"}) == 1
    assert sample("flagger_canary_successes_total", {**common, "analysis_status": "completed"}) is None
