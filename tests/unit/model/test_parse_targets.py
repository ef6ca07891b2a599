"""Targets and autoscalers: a DaemonSet or a Deployment, an HPA or a KEDA ScaledObject.

What each combination cannot do is refused by its path, never ignored.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitflagger.model import AutoscalerRef, ObjectRef, parse_canary
from tests.unit.model.canaries import edited, minimal, problems_of

SO = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "name": "podinfo-so"}
HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "podinfo"}
QUERIES = {"requests": 'sum(rate(x{app="podinfo-primary"}[1m]))'}


def test_a_daemonset_target_is_read() -> None:
    canary = parse_canary(edited(minimal(), spec__targetRef__kind="DaemonSet"))
    assert canary.spec.target_ref == ObjectRef("apps/v1", "DaemonSet", "podinfo")
    assert canary.primary_name == "podinfo-primary"


def test_a_scaledobject_autoscaler_is_read_with_its_primary_queries() -> None:
    canary = parse_canary(edited(minimal(), spec__autoscalerRef={**SO, "primaryScalerQueries": QUERIES}))
    ref = canary.spec.autoscaler_ref
    assert ref == AutoscalerRef(
        "keda.sh/v1alpha1", "ScaledObject", "podinfo-so", primary_scaler_queries=QUERIES
    )
    assert ref is not None and ref.keda


def test_a_scaledobject_without_api_version_is_kedas() -> None:
    doc = edited(minimal(), spec__autoscalerRef={"kind": "ScaledObject", "name": "podinfo-so"})
    ref = parse_canary(doc).spec.autoscaler_ref
    assert ref is not None and ref.api_version == "keda.sh/v1alpha1"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"spec__autoscalerRef": {**SO, "apiVersion": "keda.k8s.io/v1alpha1"}},
            ['spec.autoscalerRef.apiVersion: must be keda.sh/v1alpha1, got "keda.k8s.io/v1alpha1"'],
            id="keda-v1-api-group",
        ),
        pytest.param(
            {"spec__autoscalerRef": {**HPA, "primaryScalerQueries": QUERIES}},
            [
                "spec.autoscalerRef.primaryScalerQueries: is for a KEDA ScaledObject's triggers; "
                "a HorizontalPodAutoscaler has no queries"
            ],
            id="queries-on-an-hpa",
        ),
        pytest.param(
            {"spec__autoscalerRef": {**SO, "primaryScalerQueries": {}}},
            [
                "spec.autoscalerRef.primaryScalerQueries: is empty: name a trigger and its query, "
                "or remove the field to point every query at the primary"
            ],
            id="empty-queries-on-a-scaledobject",
        ),
        pytest.param(
            {"spec__targetRef__kind": "DaemonSet", "spec__autoscalerRef": HPA},
            ["spec.autoscalerRef: a DaemonSet runs one pod per node and cannot be autoscaled; remove it"],
            id="daemonset-with-an-hpa",
        ),
        pytest.param(
            {"spec__targetRef__kind": "DaemonSet", "spec__autoscalerRef": SO},
            ["spec.autoscalerRef: a DaemonSet runs one pod per node and cannot be autoscaled; remove it"],
            id="daemonset-with-a-scaledobject",
        ),
        pytest.param(
            {"spec__targetRef__kind": "StatefulSet"},
            [
                'spec.targetRef.kind: unsupported "StatefulSet": '
                "gitflagger rolls out a Deployment or a DaemonSet"
            ],
            id="statefulset",
        ),
    ],
)
def test_what_a_target_or_autoscaler_cannot_do_is_refused_by_path(
    changes: dict[str, Any], expected: list[str]
) -> None:
    assert problems_of(edited(minimal(), **changes)) == expected


@pytest.mark.parametrize("revert", [True, False, None])
def test_revert_on_deletion_is_read_with_a_daemonset(revert: Any) -> None:
    doc = edited(minimal(), spec__targetRef__kind="DaemonSet", spec__revertOnDeletion=revert)
    assert parse_canary(doc).spec.revert_on_deletion is bool(revert)
