"""The simulate pipeline on the podinfo fixtures: the real decide, render and record stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import GitRecorder
from gitflagger.engine.simulate import TickResult, simulate
from gitflagger.engine.timeline import load_timeline, parse_timeline
from gitflagger.engine.workload import Workload, workload_from_documents
from gitflagger.errors import PermanentError, ValidationError

ROOT = Path(__file__).resolve().parents[3]
PODINFO = [ROOT / "fixtures" / "podinfo" / n for n in ("deployment.yaml", "hpa.yaml", "canary.yaml")]
TIMELINES = ROOT / "fixtures" / "timelines"
HEALTHY = {"request-success-rate": 99.9, "request-duration": 120}


def podinfo() -> Workload:
    return workload_from_documents(load_documents(PODINFO))


def run(tmp_path: Path, timeline: dict[str, Any], **kwargs: Any) -> list[TickResult]:
    recorder = GitRecorder(tmp_path / "repo")
    return list(simulate(podinfo(), parse_timeline(timeline), recorder, **kwargs))


def release(*later: dict[str, Any]) -> dict[str, Any]:
    """Initialize at tick 0, ship 6.0.1 at tick 1, then the given entries."""
    return {
        "timeline": [
            {"tick": 0, "metrics": HEALTHY},
            {"tick": 1, "image": "ghcr.io/stefanprodan/podinfo:6.0.1"},
            *later,
        ]
    }


def test_the_promote_fixture_promotes(tmp_path: Path) -> None:
    recorder = GitRecorder(tmp_path / "repo")
    ticks = list(simulate(podinfo(), load_timeline(TIMELINES / "promote.yaml"), recorder))

    assert [(t.phase, t.canary_weight, t.primary_weight) for t in ticks] == [
        ("Initialized", 0, 100),
        ("Progressing", 0, 100),
        ("Progressing", 10, 90),
        ("Progressing", 20, 80),
        ("Progressing", 30, 70),
        ("Progressing", 40, 60),
        ("Progressing", 50, 50),
        ("Promoting", 50, 50),
        ("Finalising", 0, 100),
        ("Succeeded", 0, 100),
    ]
    assert all(t.commit for t in ticks)
    assert [t.time.strftime("%H:%M") for t in ticks[:3]] == ["00:00", "00:01", "00:02"]


def test_the_rollback_fixture_fails(tmp_path: Path) -> None:
    recorder = GitRecorder(tmp_path / "repo")
    ticks = list(simulate(podinfo(), load_timeline(TIMELINES / "rollback.yaml"), recorder))

    assert ticks[0].events == ("Initialization done! podinfo.test",)
    assert [(t.phase, t.canary_weight, t.failed_checks) for t in ticks[1:]] == [
        ("Progressing", 0, 0),
        ("Progressing", 10, 0),
        ("Progressing", 20, 0),
        ("Progressing", 20, 1),
        ("Progressing", 20, 2),
        ("Progressing", 20, 3),
        ("Progressing", 20, 4),
        ("Progressing", 20, 5),
        ("Failed", 0, 5),
    ]
    assert ticks[4].events == ("Halt podinfo.test advancement success rate 95.50% < 99%",)
    assert ticks[-1].events == (
        "Rolling back podinfo.test failed checks threshold reached 5",
        "Canary failed! Scaling down podinfo.test",
    )


def test_the_same_files_give_the_same_commits(tmp_path: Path) -> None:
    first = run(tmp_path / "a", release())
    second = run(tmp_path / "b", release())
    assert [t.commit for t in first] == [t.commit for t in second]


def test_steps_that_change_nothing_make_no_commit(tmp_path: Path) -> None:
    ticks = run(tmp_path, {"timeline": [{"tick": 0, "metrics": HEALTHY}]}, max_ticks=5)
    assert [(t.phase, t.commit is not None, t.skipped) for t in ticks] == [
        ("Initialized", True, None),
        ("Initialized", False, "duplicate-step"),
        ("Initialized", False, "duplicate-step"),
        ("Initialized", False, "duplicate-step"),
        ("Initialized", False, "duplicate-step"),
    ]
    assert len(ticks[0].commits) == 2
    repo = pygit2.Repository(str(tmp_path / "repo"))
    assert len(list(repo.walk(repo.references["refs/heads/main"].target))) == 2


def test_a_metric_left_out_reads_as_no_values(tmp_path: Path) -> None:
    ticks = run(tmp_path, release({"tick": 4, "metrics": {"request-duration": None}}), max_ticks=6)
    assert ticks[4].events == (
        "Halt advancement no values found for istio metric request-duration "
        "probably podinfo.test is not receiving traffic",
    )
    assert ticks[4].failed_checks == 1


def test_a_failing_webhook_halts_advancement(tmp_path: Path) -> None:
    ticks = run(tmp_path, release({"tick": 4, "webhooks": {"load-test": "fail"}}), max_ticks=6)
    assert [(t.canary_weight, t.failed_checks) for t in ticks[3:6]] == [(20, 0), (20, 1), (20, 2)]


def test_an_unready_canary_halts_then_misses_its_progress_deadline(tmp_path: Path) -> None:
    ticks = run(tmp_path, release({"tick": 4, "canaryReady": False}), max_ticks=20)
    assert [(t.phase, t.canary_weight) for t in ticks[3:]] == [
        ("Progressing", 20),
        ("Progressing", 20),
        ("Progressing", 20),
        ("Failed", 0),
    ]
    assert ticks[4].events == (
        "Halt podinfo.test advancement waiting for rollout to finish: "
        "0 of 2 (readyThreshold 100%) updated replicas are available",
    )
    assert ticks[-1].events[0].startswith("Rolling back podinfo.test progress deadline exceeded")


def test_promotion_gives_the_primary_the_new_image(tmp_path: Path) -> None:
    run(tmp_path, release())
    repo = pygit2.Repository(str(tmp_path / "repo"))
    tree = repo.revparse_single("refs/heads/main").peel(pygit2.Commit).tree
    blob = tree["local/test/podinfo/deployment-podinfo-primary.yaml"]
    assert isinstance(blob, pygit2.Blob)
    assert "image: ghcr.io/stefanprodan/podinfo:6.0.1\n" in blob.data.decode()


def test_max_ticks_stops_a_run_that_never_ends(tmp_path: Path) -> None:
    ticks = run(tmp_path, release({"tick": 3, "canaryReady": False}), max_ticks=4)
    assert [t.tick for t in ticks] == [0, 1, 2, 3]


def test_timeline_names_must_be_the_canarys(tmp_path: Path) -> None:
    entry = {"tick": 0, "metrics": {"request-succes-rate": 99}, "webhooks": {"smoke": "pass"}}
    timeline = {"timeline": [entry]}
    with pytest.raises(ValidationError) as err:
        run(tmp_path, timeline)
    assert str(err.value) == (
        "invalid timeline: timeline[0].metrics.request-succes-rate: not in Canary test/podinfo "
        "(it has: request-duration, request-success-rate); "
        "timeline[0].webhooks.smoke: not in Canary test/podinfo (it has: load-test)"
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        pytest.param(
            ["deployment.yaml", "hpa.yaml"],
            "expected exactly one Canary (flagger.app) in the files, found none",
            id="no-canary",
        ),
        pytest.param(
            ["hpa.yaml", "canary.yaml"],
            "test/podinfo: target Deployment test/podinfo is not in the files",
            id="no-target",
        ),
        pytest.param(
            ["deployment.yaml", "canary.yaml"],
            "test/podinfo: autoscaler HorizontalPodAutoscaler test/podinfo is not in the files",
            id="no-hpa",
        ),
        pytest.param(
            ["deployment.yaml", "hpa.yaml", "canary.yaml", "canary-v1beta1.yaml"],
            "expected exactly one Canary (flagger.app) in the files, found test/podinfo, test/podinfo",
            id="two-canaries",
        ),
    ],
)
def test_workload_needs_its_pieces(files: list[str], message: str) -> None:
    with pytest.raises(PermanentError) as err:
        workload_from_documents(load_documents([ROOT / "fixtures" / "podinfo" / f for f in files]))
    assert str(err.value) == message


def test_configmaps_and_secrets_of_the_namespace_are_kept() -> None:
    docs = load_documents(PODINFO)
    docs += [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "1"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "test"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "elsewhere", "namespace": "prod"}},
    ]
    workload = workload_from_documents(docs)
    assert sorted(workload.configmaps) == ["cfg"]
    assert sorted(workload.secrets) == ["s"]


def test_an_image_for_a_target_without_containers_is_a_clear_error(tmp_path: Path) -> None:
    workload = podinfo()
    target = {**workload.target, "spec": {"template": {"spec": {}}}}
    broken = Workload(workload.canary, target, workload.hpa)
    timeline = parse_timeline({"timeline": [{"tick": 0, "image": "app:2"}]})
    with pytest.raises(PermanentError) as err:
        list(simulate(broken, timeline, GitRecorder(tmp_path / "repo")))
    assert str(err.value) == "timeline sets an image, but Deployment podinfo has no containers"
