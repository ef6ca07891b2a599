"""Fields Flagger acts on and gitflagger does not are refused by path, all in one error."""

from __future__ import annotations

from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary
from gitflagger.model.refused import REFUSED
from tests.unit.model.canaries import edited, minimal, problems_of

EVERY_REFUSED: dict[str, Any] = {
    "spec__ingressRef": {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "podinfo"},
    "spec__routeRef": {"apiVersion": "gloo.solo.io/v1", "kind": "RouteTable", "name": "podinfo"},
    "spec__upstreamRef": {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "name": "podinfo"},
    "spec__autoscalerRef": {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "name": "podinfo",
        "primaryScalerQueries": {"trigger": "sum(rate(x[1m]))"},
    },
    "spec__service__meshName": "global",
    "spec__service__backends": ["backend.test"],
    "spec__service__mirror": [{"backend": {"name": "podinfo-shadow"}}],
    "spec__targetRef__kind": "DaemonSet",
    "spec__analysis__sessionAffinity": {
        "cookieName": "canary",
        "primaryCookieName": "primary",
    },
}
"""A Canary setting every field gitflagger refuses (``REFUSED`` plus those the parser refuses itself)."""

EXPECTED_PATHS = [f"{parent}.{key}" for parent, fields in REFUSED.items() for key in fields] + [
    "spec.service.mirror",
    "spec.targetRef.kind",
    "spec.analysis.sessionAffinity.primaryCookieName",
]


def test_one_error_names_every_refused_field_on_one_line() -> None:
    with pytest.raises(ValidationError) as info:
        parse_canary(edited(minimal(), **EVERY_REFUSED))
    paths = [p.path for p in info.value.problems]
    assert sorted(paths) == sorted(EXPECTED_PATHS)
    text = str(info.value)
    assert "\n" not in text
    for path in EXPECTED_PATHS:
        assert f"{path}: " in text


@pytest.mark.parametrize(("parent", "key"), [(p, k) for p, fields in REFUSED.items() for k in fields])
def test_each_refused_field_says_why(parent: str, key: str) -> None:
    changes: dict[str, Any] = {"__".join([*parent.split("."), key]): {"x": "y"}}
    if parent == "spec.autoscalerRef":
        changes |= {"spec__autoscalerRef__kind": "HorizontalPodAutoscaler"}
        changes |= {"spec__autoscalerRef__name": "hpa"}
    (line,) = problems_of(edited(minimal(), **changes))
    assert line.startswith(f"{parent}.{key}: ") and "not supported by gitflagger" in line


@pytest.mark.parametrize("value", [None, False, "", [], {}])
def test_flaggers_defaults_are_not_refused(value: Any) -> None:
    doc = edited(minimal(), spec__ingressRef=value, spec__routeRef=value, spec__service__meshName=value)
    assert parse_canary(doc).spec.service.port == 9898


def test_fields_once_refused_are_read() -> None:
    """The fields gitflagger now acts on (it used to refuse them) reach the model."""
    doc = edited(
        minimal(),
        spec__autoscalerRef={
            "kind": "HorizontalPodAutoscaler",
            "name": "podinfo",
            "primaryScalerReplicas": {"minReplicas": 2},
        },
        spec__service__delegation=True,
        spec__service__appProtocol="TCP",
        spec__service__headless=True,
        spec__service__trafficDistribution="PreferClose",
        spec__service__unmanagedMetadata={"labels": ["team"], "annotations": ["owner"]},
        spec__analysis__sessionAffinity={"cookieName": "c", "sameSite": "Lax", "httpOnly": True},
    )
    spec = parse_canary(doc).spec
    svc = spec.service
    assert (svc.delegation, svc.tcp, svc.headless) == (True, True, True)
    assert svc.traffic_distribution == "PreferClose"
    assert svc.unmanaged_metadata is not None and svc.unmanaged_metadata.annotations == ("owner",)
    assert spec.primary_scaler_replicas is not None
    assert (spec.primary_scaler_replicas.min_replicas, spec.primary_scaler_replicas.max_replicas) == (2, None)
    affinity = spec.analysis.session_affinity
    assert affinity is not None and (affinity.same_site, affinity.http_only) == ("Lax", True)
