"""reconcile --dry-run's engine (the next step as diffs, nothing written), and the /metrics endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest
import requests
from prometheus_client import generate_latest

from gitflagger.adapters.git import DryRunRecorder, FileDiff
from gitflagger.engine.preview import NOT_CALLED, preview
from gitflagger.engine.serving import Endpoint, parse_addr
from gitflagger.engine.telemetry import Telemetry
from gitflagger.errors import PermanentError
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.podinfo_world import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        yield World(tmp_path, prometheus, hooks)


class Diffs:
    """A dry-run recorder on the world's repo, and the file diffs it reported."""

    def __init__(self, world: World) -> None:
        self.files: list[FileDiff] = []
        repo = world.recorder.repo
        ref = repo.references.get("refs/heads/main")
        head = ref.peel(pygit2.Commit).id if ref is not None else None
        self.recorder = DryRunRecorder(repo, head, lambda step, diffs: self.files.extend(diffs))

    def names(self) -> set[str]:
        return {d.path.rsplit("/", 1)[1] for d in self.files}


def test_a_preview_diffs_against_repo_and_live_and_writes_nothing(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.steps(1)  # scaled up: the next step starts the analysis and shifts 10%
    commits, events, canary = len(world.subjects()), len(world.cluster.events), dict(world.canary)
    hits = len(world.hooks.requests)

    diffs = Diffs(world)
    result = preview(world.ctx, world.canary, diffs.recorder)

    assert result.subject == "podinfo.test: advance canary weight 10"
    assert result.gates_assumed == ()
    assert {"virtualservice-podinfo.yaml", "canary.yaml"} <= diffs.names()
    assert "VirtualService/podinfo" in {d.name for d in result.changes}
    vs = next(d.text for d in diffs.files if d.path.endswith("virtualservice-podinfo.yaml"))
    assert "-          weight: 0\n" in vs and "+          weight: 10\n" in vs
    assert (len(world.subjects()), len(world.cluster.events), world.canary) == (commits, events, canary)
    assert len(world.hooks.requests) == hits
    assert world.cluster.obj("VirtualService", "podinfo")["spec"]["http"][0]["route"][0]["weight"] == 100


def test_a_step_that_changes_nothing_previews_no_repo_diff_however_late(world: World) -> None:
    """A real step that changes nothing records no commit (reconcile._record), so its preview shows
    none either: not even a newer lastStepTime in canary.yaml, one clock second later."""
    world.initialized()
    world.now += timedelta(seconds=1)
    diffs = Diffs(world)

    result = preview(world.ctx, world.canary, diffs.recorder)

    assert result.changes == () and result.actions == ()
    assert diffs.files == []


def test_gates_are_not_called_in_a_preview_but_named(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.steps(2)  # weight 10: the next step runs the rollout webhook load-test
    hits = len(world.hooks.requests)

    result = preview(world.ctx, world.canary, Diffs(world).recorder)

    assert result.gates_assumed == ("load-test",)
    assert len(world.hooks.requests) == hits
    assert NOT_CALLED == "not called: dry run"


def test_a_fresh_canary_preview_shows_every_object_as_new(world: World) -> None:
    diffs = Diffs(world)
    result = preview(world.ctx, world.canary, diffs.recorder)
    assert result.actions == ("initialize", "scale-canary-down")
    assert "deployment-podinfo-primary.yaml" in diffs.names()
    assert {d.name for d in result.changes} >= {
        "Deployment/podinfo-primary",
        "VirtualService/podinfo",
    }
    assert world.cluster.applies == 1  # the dry-run apply only
    assert ("Deployment", "test", "podinfo-primary") not in world.cluster.objects


def test_the_endpoint_serves_metrics_health_and_readiness() -> None:


    telemetry = Telemetry()
    ready = {"ok": False}
    endpoint = Endpoint("127.0.0.1:0", telemetry.registry, ready=lambda: ready["ok"])
    try:
        base = f"http://127.0.0.1:{endpoint.port}"
        assert requests.get(base + "/healthz", timeout=5).status_code == 200
        assert requests.get(base + "/readyz", timeout=5).status_code == 503
        ready["ok"] = True
        assert requests.get(base + "/readyz", timeout=5).status_code == 200
        body = requests.get(base + "/metrics", timeout=5).text
        assert 'flagger_info{mesh_provider="istio"' in body
        assert requests.get(base + "/nope", timeout=5).status_code == 404
    finally:
        endpoint.close()


@pytest.mark.parametrize("addr", ["8080", "host:port", ":99999"])
def test_a_bad_metrics_address_is_a_clear_error(addr: str) -> None:
    with pytest.raises(PermanentError, match="--metrics-addr"):
        parse_addr(addr)


def test_a_busy_metrics_port_is_a_clear_error() -> None:


    first = Endpoint("127.0.0.1:0", Telemetry().registry, ready=lambda: True)
    try:
        with pytest.raises(PermanentError, match="--metrics-addr"):
            Endpoint(f"127.0.0.1:{first.port}", Telemetry().registry, ready=lambda: True)
    finally:
        first.close()


def test_metrics_carry_flaggers_names_and_gitflaggers_own_after_a_release(world: World) -> None:
    world.initialized()
    world.set_image("6.0.1")
    world.until("Succeeded")
    body = generate_latest(world.ctx.telemetry.registry).decode()
    for name in (
        "flagger_info", "flagger_canary_status", "flagger_canary_weight",
        "flagger_canary_duration_seconds_bucket", "flagger_canary_metric_analysis",
        "flagger_canary_successes_total", "gitflagger_commits_total", "gitflagger_apply_seconds_bucket",
    ):
        assert f"\n{name}{{" in body or f"\n{name} " in body, name
    sample = world.ctx.telemetry.registry.get_sample_value
    assert sample("flagger_canary_weight", {"workload": "podinfo-primary", "namespace": "test"}) == 100
    assert sample("flagger_canary_status", {"name": "podinfo", "namespace": "test"}) == 1
    assert sample("gitflagger_commits_total", {"namespace": "test"}) == len(world.subjects())
    assert sample("flagger_canary_metric_analysis",
                  {"name": "podinfo", "namespace": "test", "metric": "request-success-rate"}) == 99.9
    for name in ("flagger_canary_failures_total", "gitflagger_push_retries_total", "gitflagger_drift_total"):
        assert f"# HELP {name} " in body, name  # declared, no sample yet: nothing failed, drifted or raced
