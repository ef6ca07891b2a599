"""Rendering a DaemonSet target and a KEDA ScaledObject autoscaler, as Flagger's controllers do.

Golden directories under ``tests/golden/podinfo-daemonset/`` and
``tests/golden/podinfo-keda/`` hold what the config repo gets at each kind of
step; regenerate with ``UPDATE_GOLDEN=1`` like the others. The tests around
them pin the rules one by one: the primary DaemonSet's selector and copied
fields, the scale-to-zero node selector kept out of revisions and primaries,
the ``OnDelete`` refusal, and the primary ScaledObject's target, queries and
HPA name.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gitflagger.decide.decision import Decision
from gitflagger.errors import PermanentError, TemporaryError, ValidationError
from gitflagger.model.canary import Canary, ScalerReplicas
from gitflagger.model.hashing import pod_template_hash
from gitflagger.render import WorkloadInputs, render
from gitflagger.render.daemonset import SCALE_TO_ZERO_KEY, scale_patch, scaled_to_zero, unscaled
from gitflagger.render.keda import PAUSED_REPLICAS, pause_patch, paused, primary_query
from tests.unit.render import podinfo
from tests.unit.render.targets import (
    daemonset,
    daemonset_canary,
    daemonset_inputs,
    keda_canary,
    keda_inputs,
    one,
    scaled_object,
)

GOLDEN = podinfo.ROOT / "tests" / "golden"
Case = Callable[[], tuple[Canary, WorkloadInputs, Decision]]


def _daemonset_initialized() -> tuple[Canary, WorkloadInputs, Decision]:
    """Initialization from a target already hidden: the node selector must not reach the primary."""
    inputs = daemonset_inputs(target=daemonset(hidden=True))
    return daemonset_canary(), inputs, podinfo.decision(100, 0, promote=True)


def _daemonset_progressing() -> tuple[Canary, WorkloadInputs, Decision]:
    template = one(render(*_daemonset_initialized()), "DaemonSet")["spec"]["template"]
    target = daemonset()
    target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.1"
    inputs = daemonset_inputs(target=target, primary_template=template)
    return daemonset_canary(), inputs, podinfo.decision(60, 40)


def _keda_initialized() -> tuple[Canary, WorkloadInputs, Decision]:
    return keda_canary(), keda_inputs(), podinfo.decision(100, 0, promote=True)


def _keda_queries_rewritten() -> tuple[Canary, WorkloadInputs, Decision]:
    """No primaryScalerQueries: the target's name in the query becomes the primary's."""
    so = scaled_object()
    so["spec"]["advanced"] = {"horizontalPodAutoscalerConfig": {"name": "podinfo-hpa"}}
    return keda_canary(queries=False), keda_inputs(hpa=so), podinfo.decision(100, 0, promote=True)


CASES: dict[str, dict[str, Case]] = {
    "podinfo-daemonset": {"initialized": _daemonset_initialized, "progressing-60-40": _daemonset_progressing},
    "podinfo-keda": {"initialized": _keda_initialized, "queries-rewritten": _keda_queries_rewritten},
}


@pytest.mark.parametrize(("fixture", "case"), [(f, c) for f, cases in CASES.items() for c in sorted(cases)])
def test_render_matches_golden_files(fixture: str, case: str) -> None:
    rendered = {m.path: m.to_yaml() for m in render(*CASES[fixture][case]()) if not m.secret}
    directory = GOLDEN / fixture / case
    if os.environ.get("UPDATE_GOLDEN") == "1":
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        for path, text in rendered.items():
            (directory / path).write_text(text)
    on_disk = {p.name: p.read_text() for p in sorted(Path(directory).glob("*.yaml"))}
    assert rendered == on_disk


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_golden_cases_cover_every_directory(fixture: str) -> None:
    assert sorted(p.name for p in (GOLDEN / fixture).iterdir() if p.is_dir()) == sorted(CASES[fixture])


# ---- DaemonSet ---------------------------------------------------------------------------------


def test_the_primary_daemonset_is_selected_by_the_primary_label_and_copies_the_rollout_fields() -> None:
    primary = one(render(*_daemonset_initialized()), "DaemonSet")
    assert primary["metadata"]["name"] == "podinfo-primary"
    assert primary["metadata"]["labels"] == {"app": "podinfo-primary"}
    assert primary["spec"]["selector"] == {"matchLabels": {"app": "podinfo-primary"}}
    assert primary["spec"]["template"]["metadata"]["labels"] == {"app": "podinfo-primary"}
    target = daemonset()["spec"]
    for field in ("minReadySeconds", "revisionHistoryLimit", "updateStrategy"):
        assert primary["spec"][field] == target[field], field
    assert "replicas" not in primary["spec"]
    assert primary["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_no_deployment_or_hpa_is_rendered_for_a_daemonset() -> None:
    kinds = [m.kind for m in render(*_daemonset_initialized())]
    assert "Deployment" not in kinds and "HorizontalPodAutoscaler" not in kinds
    assert kinds.count("DaemonSet") == 1


def test_hiding_the_daemonset_is_not_a_new_revision() -> None:
    hidden, shown = daemonset(hidden=True), daemonset()
    assert scaled_to_zero(hidden) and not scaled_to_zero(shown)
    assert unscaled(hidden) == shown
    assert pod_template_hash(unscaled(hidden)["spec"]["template"]) == pod_template_hash(
        shown["spec"]["template"]
    )
    only_ours = daemonset(hidden=True)
    del only_ours["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/os"]
    assert "nodeSelector" not in unscaled(only_ours)["spec"]["template"]["spec"]


def test_a_deployment_carrying_the_key_is_left_alone() -> None:
    """Only a DaemonSet is hidden with the node selector; a Deployment's own selector is its author's."""
    target = podinfo.target()
    target["spec"]["template"]["spec"]["nodeSelector"] = {SCALE_TO_ZERO_KEY: "true"}
    assert unscaled(target) is target


def test_the_scale_patches_add_and_remove_the_node_selector() -> None:
    assert scale_patch(to_zero=True)["spec"]["template"]["spec"]["nodeSelector"] == {
        SCALE_TO_ZERO_KEY: "true"
    }
    assert scale_patch(to_zero=False)["spec"]["template"]["spec"]["nodeSelector"] == {SCALE_TO_ZERO_KEY: None}


def test_a_daemonset_without_rolling_updates_is_refused_with_flaggers_message() -> None:
    target = daemonset()
    target["spec"]["updateStrategy"] = {"type": "OnDelete"}
    with pytest.raises(
        PermanentError, match=r"daemonset podinfo\.test must have RollingUpdate strategy but have OnDelete"
    ):
        render(daemonset_canary(), daemonset_inputs(target=target), podinfo.decision(promote=True))


def test_a_daemonset_without_a_selector_label_names_the_daemonset() -> None:
    target = daemonset()
    target["spec"]["selector"] = {"matchLabels": {"tier": "web"}}
    with pytest.raises(
        PermanentError, match=r"^daemonset podinfo\.test spec\.selector\.matchLabels must contain"
    ):
        render(daemonset_canary(), daemonset_inputs(target=target), podinfo.decision(promote=True))


# ---- KEDA ScaledObject --------------------------------------------------------------------------


def test_the_primary_scaledobject_scales_the_primary_with_the_given_query() -> None:
    manifests = render(*_keda_initialized())
    primary = one(manifests, "ScaledObject")
    assert primary["apiVersion"] == "keda.sh/v1alpha1"
    assert primary["metadata"]["name"] == "podinfo-so-primary"
    assert primary["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "podinfo-primary",
    }
    (trigger,) = primary["spec"]["triggers"]
    ref = keda_canary().spec.autoscaler_ref
    assert ref is not None and trigger["metadata"]["query"] == ref.primary_scaler_queries["requests"]
    for field in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        assert primary["spec"][field] == scaled_object()["spec"][field], field
    assert "replicas" not in one(manifests, "Deployment")["spec"], "KEDA's HPA owns the primary's replicas"
    assert "HorizontalPodAutoscaler" not in [m.kind for m in manifests]


def test_without_primary_queries_the_targets_name_becomes_the_primarys() -> None:
    primary = one(render(*_keda_queries_rewritten()), "ScaledObject")
    (trigger,) = primary["spec"]["triggers"]
    assert (
        trigger["metadata"]["query"]
        == 'sum(rate(istio_requests_total{destination_workload="podinfo-primary"}[1m]))'
    )
    assert primary["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["name"] == "podinfo-hpa-primary"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('x{app="podinfo"}', 'x{app="podinfo-primary"}'),
        ('x{app="podinfo-canary"}', 'x{app="podinfo-primary"}'),
        ('x{app=~"podinfo|podinfo-canary"}', 'x{app=~"podinfo-primary|podinfo-primary"}'),
        ('x{app="other"}', 'x{app="other"}'),
        # Flagger's replacement turns an existing podinfo-primary into podinfo-primary-primary too
        ('x{app="podinfo-primary"}', 'x{app="podinfo-primary-primary"}'),
    ],
    ids=["name", "canary", "both", "unrelated", "already-primary"],
)
def test_a_query_is_rewritten_as_flagger_rewrites_it(query: str, expected: str) -> None:
    assert primary_query(query, "podinfo") == expected


def test_a_primary_query_for_no_trigger_is_refused_by_its_path() -> None:
    so = scaled_object()
    so["spec"]["triggers"][0]["name"] = "cpu"
    with pytest.raises(ValidationError) as info:
        render(keda_canary(), keda_inputs(hpa=so), podinfo.decision(promote=True))
    (problem,) = info.value.problems
    assert problem.path == "spec.autoscalerRef.primaryScalerQueries.requests"
    assert (
        "no trigger of ScaledObject podinfo-so.test is named 'requests' (its triggers: cpu)"
        in problem.message
    )


def test_unnamed_triggers_keep_their_query_when_primary_queries_are_given() -> None:
    """Flagger matches primaryScalerQueries by trigger name only: an unnamed trigger keeps its query."""
    so = scaled_object()
    extra = {"type": "prometheus", "metadata": {"query": 'y{app="podinfo"}', "threshold": "1"}}
    so["spec"]["triggers"].append(extra)
    primary = one(render(keda_canary(), keda_inputs(hpa=so), podinfo.decision(promote=True)), "ScaledObject")
    assert primary["spec"]["triggers"][1]["metadata"]["query"] == 'y{app="podinfo"}'


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [(ScalerReplicas(2, 5), (2, 5)), (ScalerReplicas(min_replicas=2), (2, 3)), (None, (1, 3))],
    ids=["both", "min-only", "none"],
)
def test_primary_scaler_replicas_bound_the_primary_scaledobject(
    bounds: ScalerReplicas | None, expected: tuple[int, int]
) -> None:
    """Flagger sets each bound given on the primary ScaledObject; the other stays the target's."""
    canary = keda_canary()
    canary = dataclasses.replace(
        canary, spec=dataclasses.replace(canary.spec, primary_scaler_replicas=bounds)
    )
    primary = one(render(canary, keda_inputs(), podinfo.decision(promote=True)), "ScaledObject")
    assert (primary["spec"]["minReplicaCount"], primary["spec"]["maxReplicaCount"]) == expected


def test_the_pause_never_reaches_the_primary() -> None:
    so = scaled_object()
    so["metadata"]["annotations"] = {PAUSED_REPLICAS: "0", "team": "web"}
    manifests = render(
        keda_canary(), keda_inputs(hpa=so), podinfo.decision(promote=True), include_label_prefixes=["*"]
    )
    assert one(manifests, "ScaledObject")["metadata"]["annotations"] == {"team": "web"}
    assert paused(so) and not paused(scaled_object())


def test_the_pause_patch_sets_and_removes_kedas_annotation() -> None:
    assert pause_patch(paused=True) == {"metadata": {"annotations": {PAUSED_REPLICAS: "0"}}}
    assert pause_patch(paused=False) == {"metadata": {"annotations": {PAUSED_REPLICAS: None}}}


def test_a_missing_scaledobject_is_temporary() -> None:
    with pytest.raises(TemporaryError, match=r"ScaledObject podinfo-so\.test not found"):
        render(keda_canary(), keda_inputs(hpa=None), podinfo.decision(promote=True))
