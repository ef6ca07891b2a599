"""The pure rules behind KubeCluster.apply: order, ownership, replicas, redaction."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gitflagger.adapters.kube.apply_rules import (
    as_object,
    hpa_targets,
    in_apply_order,
    namespaces_needing_hpa_lookup,
    owned_by,
    redacted,
    replicas_applied_elsewhere,
)
from gitflagger.render import Manifest


def obj(kind: str, name: str, ns: str = "test", **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": ns}, **extra}


def entry(manager: str, operation: str, fields: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    out = {"manager": manager, "operation": operation, "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        out["subresource"] = subresource
    return out


REPLICAS = {"f:spec": {"f:replicas": {}}}
TEMPLATE = {"f:spec": {"f:template": {}}}


def live(*entries: dict[str, Any], owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "podinfo-primary", "managedFields": list(entries)}
    if owners is not None:
        meta["ownerReferences"] = owners
    return {"kind": "Deployment", "metadata": meta}


def test_objects_go_in_dependency_order_and_same_kinds_keep_their_order() -> None:
    given = [
        obj("VirtualService", "podinfo"),
        obj("DestinationRule", "podinfo-primary"),
        obj("Canary", "podinfo"),
        obj("HorizontalPodAutoscaler", "podinfo-primary"),
        obj("Deployment", "podinfo-primary"),
        obj("Service", "podinfo-primary"),
        obj("Service", "podinfo"),
        obj("Secret", "db-primary"),
        obj("ConfigMap", "config-primary"),
        obj("DestinationRule", "podinfo-canary"),
    ]

    ordered = [(o["kind"], o["metadata"]["name"]) for o in in_apply_order(given)]

    assert ordered == [
        ("Secret", "db-primary"),
        ("ConfigMap", "config-primary"),
        ("Service", "podinfo-primary"),
        ("Service", "podinfo"),
        ("Deployment", "podinfo-primary"),
        ("HorizontalPodAutoscaler", "podinfo-primary"),
        ("DestinationRule", "podinfo-primary"),
        ("DestinationRule", "podinfo-canary"),
        ("VirtualService", "podinfo"),
        ("Canary", "podinfo"),
    ]


def test_the_applied_body_carries_no_server_noise_and_the_input_is_untouched() -> None:
    manifest = Manifest(
        {
            **obj("ConfigMap", "c"),
            "data": {"k": "v"},
            "status": {"x": 1},
        }
    )
    manifest.obj["metadata"].update(resourceVersion="42", uid="u", managedFields=[{}], creationTimestamp="t")

    body = as_object(manifest)

    assert body == {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "test"}, "data": {"k": "v"}}
    assert manifest.obj["metadata"]["resourceVersion"] == "42"


CANARY_OWNER = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo", "controller": True}


@pytest.mark.parametrize(
    ("live_obj", "owned"),
    [
        pytest.param(None, True, id="new-object"),
        pytest.param(live(entry("gitflagger", "Apply", TEMPLATE)), True, id="applied-by-gitflagger-before"),
        pytest.param(live(entry("gitflagger", "Update", REPLICAS, "scale")), True, id="scaled-by-gitflagger"),
        pytest.param(
            live(entry("flagger", "Update", TEMPLATE), owners=[CANARY_OWNER]), True, id="flagger-made"
        ),
        pytest.param(live(entry("kubectl", "Apply", TEMPLATE)), False, id="someone-elses"),
        pytest.param(
            live(entry("kubectl", "Apply", TEMPLATE), owners=[{**CANARY_OWNER, "controller": False}]),
            False,
            id="canary-owner-not-controller",
        ),
        pytest.param(
            live(entry("kubectl", "Apply", TEMPLATE), owners=[{**CANARY_OWNER, "apiVersion": "other.io/v1"}]),
            False,
            id="another-groups-canary",
        ),
    ],
)
def test_who_may_be_forced(live_obj: dict[str, Any] | None, owned: bool) -> None:
    assert owned_by(live_obj, "gitflagger") is owned


@pytest.mark.parametrize(
    ("live_obj", "elsewhere"),
    [
        pytest.param(None, False, id="new-object"),
        pytest.param(
            live(entry("kustomize-controller", "Apply", REPLICAS)), True, id="gitops-tool-applies-it"
        ),
        pytest.param(
            live(entry("argocd-controller", "Apply", TEMPLATE)), False, id="gitops-tool-not-replicas"
        ),
        pytest.param(
            live(entry("kube-controller-manager", "Update", REPLICAS, "scale")),
            False,
            id="hpa-writes-need-hpa",
        ),
        pytest.param(live(entry("kubectl", "Update", REPLICAS, "scale")), False, id="kubectl-scale"),
        pytest.param(live(entry("gitflagger", "Apply", REPLICAS)), False, id="ours"),
    ],
)
def test_replicas_another_applier_owns(live_obj: dict[str, Any] | None, elsewhere: bool) -> None:
    assert replicas_applied_elsewhere(live_obj, "gitflagger") is elsewhere


def hpa(ns: str, target: str, kind: str = "Deployment") -> dict[str, Any]:
    return obj(
        "HorizontalPodAutoscaler",
        f"{target}-hpa",
        ns,
        spec={"scaleTargetRef": {"kind": kind, "name": target}},
    )


def test_hpa_targets_are_deployments_by_namespace() -> None:
    objects = [
        hpa("a", "podinfo-primary"),
        hpa("b", "web"),
        hpa("a", "db", kind="StatefulSet"),
        obj("Service", "x"),
    ]

    assert hpa_targets(objects) == {("a", "podinfo-primary"), ("b", "web")}


def test_the_cluster_is_asked_about_hpas_only_for_deployments_that_set_replicas() -> None:
    objects = [
        obj("Deployment", "with-replicas", "a", spec={"replicas": 2}),
        obj("Deployment", "without", "b", spec={}),
        obj("Deployment", "hpa-in-batch", "c", spec={"replicas": 2}),
        obj("Deployment", "hinted", "d", spec={"replicas": 2}),
        obj("Service", "svc", "e", spec={"replicas": 2}),
    ]

    assert namespaces_needing_hpa_lookup(objects, {("c", "hpa-in-batch")}, {"hinted"}) == {"a"}


def test_secret_values_are_replaced_by_checksums() -> None:
    secret = {**obj("Secret", "db"), "data": {"password": "aHVudGVyMg=="}, "stringData": {"user": "admin"}}

    shown = redacted(secret)

    assert shown is not None
    assert shown["data"] == {"password": "sha256:" + hashlib.sha256(b"aHVudGVyMg==").hexdigest()}
    assert shown["stringData"] == {"user": "sha256:" + hashlib.sha256(b"admin").hexdigest()}
    assert redacted({**secret, "data": {"password": "other"}}) != shown
    assert secret["data"] == {"password": "aHVudGVyMg=="}
    assert redacted(obj("ConfigMap", "c", data={"k": "v"})) == obj("ConfigMap", "c", data={"k": "v"})
    assert redacted(None) is None
