"""The primary Deployment and HPA: replicas, labels, template rewriting."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitflagger.errors import PermanentError
from gitflagger.render.workload import (
    CONFIG_CHECKSUM_ANNOTATION,
    kept_primary_template,
    primary_deployment,
    primary_hpa,
    primary_replicas,
    primary_template_from_target,
)
from tests.unit.render import podinfo


def _target(replicas: int | None) -> dict[str, Any]:
    dep = podinfo.target()
    if replicas is not None:
        dep["spec"]["replicas"] = replicas
    return dep


@pytest.mark.parametrize(
    ("autoscaled", "promoting", "target", "current", "expected"),
    [
        pytest.param(True, True, 3, 2, None, id="hpa-owns-replicas-when-promoting"),
        pytest.param(True, False, 3, 2, None, id="hpa-owns-replicas-between-promotions"),
        pytest.param(False, True, 3, 2, 3, id="promotion-copies-the-target"),
        pytest.param(False, True, 0, None, 1, id="init-of-a-target-at-zero-gives-one"),
        pytest.param(False, True, None, None, 1, id="init-without-replicas-gives-one"),
        pytest.param(False, True, 0, 4, 4, id="promotion-of-a-target-at-zero-keeps-the-primary"),
        pytest.param(False, False, 0, 4, 4, id="between-promotions-the-primary-keeps-its-replicas"),
        pytest.param(False, False, 3, 4, 4, id="a-scaled-up-canary-does-not-resize-the-primary"),
        pytest.param(False, False, 3, None, 3, id="unknown-current-falls-back-to-the-target"),
    ],
)
def test_primary_replicas(
    autoscaled: bool, promoting: bool, target: int | None, current: int | None, expected: int | None
) -> None:
    got = primary_replicas(_target(target), autoscaled=autoscaled, promoting=promoting, current=current)
    assert got == expected


def test_primary_template_takes_the_primary_label_and_keeps_other_labels() -> None:
    target = podinfo.target()
    target["spec"]["template"]["metadata"]["labels"]["version"] = "6.0.0"
    template = primary_template_from_target(target, label="app", label_value="podinfo-primary", tracked={})
    assert template["metadata"]["labels"] == {"app": "podinfo-primary", "version": "6.0.0"}
    assert CONFIG_CHECKSUM_ANNOTATION not in template["metadata"]["annotations"]
    assert target["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo", "input unchanged"


def test_primary_template_drops_flagger_id_and_flux_markers() -> None:
    target = podinfo.target()
    target["spec"]["template"]["metadata"]["annotations"] = {
        "flagger-id": "0b1c",
        "kustomize.toolkit.fluxcd.io/checksum": "x",
    }
    template = primary_template_from_target(target, label="app", label_value="podinfo-primary", tracked={})
    assert "annotations" not in template["metadata"]


def test_config_checksum_annotation_follows_the_configs() -> None:
    target = podinfo.target()
    first = primary_template_from_target(
        target, label="app", label_value="p", tracked={"configmap/a": "sha256:1"}
    )
    same = primary_template_from_target(
        target, label="app", label_value="p", tracked={"configmap/a": "sha256:1"}
    )
    changed = primary_template_from_target(
        target, label="app", label_value="p", tracked={"configmap/a": "sha256:2"}
    )
    annotation = first["metadata"]["annotations"][CONFIG_CHECKSUM_ANNOTATION]
    assert annotation == same["metadata"]["annotations"][CONFIG_CHECKSUM_ANNOTATION]
    assert annotation != changed["metadata"]["annotations"][CONFIG_CHECKSUM_ANNOTATION]


def test_spread_and_anti_affinity_selectors_follow_the_primary() -> None:
    target = podinfo.target()
    pod = target["spec"]["template"]["spec"]
    pod["topologySpreadConstraints"] = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "labelSelector": {"matchLabels": {"app": "podinfo", "tier": "podinfo"}},
        }
    ]
    pod["affinity"] = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {
                        "matchExpressions": [{"key": "app", "operator": "In", "values": ["podinfo", "x"]}]
                    },
                }
            ],
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 1,
                    "podAffinityTerm": {
                        "topologyKey": "zone",
                        "labelSelector": {"matchLabels": {"name": "podinfo"}},
                    },
                }
            ],
        }
    }
    spec = primary_template_from_target(target, label="app", label_value="podinfo-primary", tracked={})[
        "spec"
    ]
    assert spec["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == {
        "app": "podinfo-primary",
        "tier": "podinfo",  # not a selector label: untouched
    }
    anti = spec["affinity"]["podAntiAffinity"]
    required = anti["requiredDuringSchedulingIgnoredDuringExecution"][0]["labelSelector"]
    assert required["matchExpressions"][0]["values"] == ["podinfo-primary", "x"]
    preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]["labelSelector"]
    assert preferred["matchLabels"] == {"name": "podinfo-primary"}


def test_kept_template_is_idempotent() -> None:
    template = primary_template_from_target(
        podinfo.target(), label="app", label_value="podinfo-primary", tracked={}
    )
    kept = kept_primary_template(template, label="app", label_value="podinfo-primary")
    assert kept == template
    assert kept_primary_template(kept, label="app", label_value="podinfo-primary") == kept


def test_primary_deployment_copies_only_what_flagger_copies() -> None:
    target = podinfo.target()
    target["metadata"]["labels"]["team"] = "web"
    target["metadata"]["annotations"] = {"team/owner": "alice", "other": "x"}
    target["spec"]["paused"] = True
    template = copy.deepcopy(target["spec"]["template"])
    dep = primary_deployment(
        target, template, namespace="test", label="app", label_value="podinfo-primary", replicas=None
    )
    assert dep["metadata"] == {
        "name": "podinfo-primary",
        "namespace": "test",
        "labels": {"app": "podinfo-primary"},
    }
    assert sorted(dep["spec"]) == [
        "minReadySeconds",
        "progressDeadlineSeconds",
        "revisionHistoryLimit",
        "selector",
        "strategy",
        "template",
    ]
    with_prefixes = primary_deployment(
        target,
        template,
        namespace="test",
        label="app",
        label_value="podinfo-primary",
        replicas=2,
        include_label_prefixes=("team",),
    )
    assert with_prefixes["metadata"]["labels"] == {"team": "web", "app": "podinfo-primary"}
    assert with_prefixes["metadata"]["annotations"] == {"team/owner": "alice"}
    assert with_prefixes["spec"]["replicas"] == 2


def test_primary_hpa_scales_the_primary() -> None:
    hpa = podinfo.hpa()
    hpa["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    out = primary_hpa(hpa, namespace="test", primary_deployment_name="podinfo-primary")
    assert out["apiVersion"] == "autoscaling/v2"
    assert out["metadata"] == {"name": "podinfo-primary", "namespace": "test"}
    assert out["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "podinfo-primary",
    }
    assert (out["spec"]["minReplicas"], out["spec"]["maxReplicas"]) == (2, 4)
    assert out["spec"]["metrics"] == hpa["spec"]["metrics"]
    assert out["spec"]["behavior"] == hpa["spec"]["behavior"]


def test_a_v2beta1_hpa_is_refused() -> None:
    hpa = {**podinfo.hpa(), "apiVersion": "autoscaling/v2beta1"}
    with pytest.raises(PermanentError, match="convert it to autoscaling/v2"):
        primary_hpa(hpa, namespace="test", primary_deployment_name="podinfo-primary")
