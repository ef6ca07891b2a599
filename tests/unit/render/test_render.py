"""render(): the whole set of manifests for one step, in apply order, secrets kept out of git."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from gitflagger.errors import PermanentError, TemporaryError
from gitflagger.model.canary import AutoscalerRef, ObjectRef
from gitflagger.render import Manifest, WorkloadInputs, render
from tests.unit.render import podinfo

SECRET_VALUE_B64 = "c3VwZXItc2VjcmV0LXZhbHVl"
SECRET_VALUE = "super-secret-value"


def _with_configs(**changes: Any) -> WorkloadInputs:
    configmaps, secrets = podinfo.configs()
    base = {"target": podinfo.with_configs(podinfo.target()), "configmaps": configmaps, "secrets": secrets}
    return podinfo.inputs(**{**base, **changes})


def _by_path(manifests: tuple[Manifest, ...]) -> dict[str, Manifest]:
    return {m.path: m for m in manifests}


def test_manifests_come_in_apply_order() -> None:
    manifests = render(podinfo.canary(), _with_configs(), podinfo.decision(promote=True))
    assert [(m.kind, m.name) for m in manifests] == [
        ("ConfigMap", "podinfo-env-primary"),
        ("ConfigMap", "podinfo-files-primary"),
        ("Secret", "podinfo-token-primary"),
        ("Service", "podinfo"),
        ("Service", "podinfo-canary"),
        ("Service", "podinfo-primary"),
        ("Deployment", "podinfo-primary"),
        ("HorizontalPodAutoscaler", "podinfo-primary"),
        ("DestinationRule", "podinfo-canary"),
        ("DestinationRule", "podinfo-primary"),
        ("VirtualService", "podinfo"),
    ]
    assert {m.namespace for m in manifests} == {"test"}


def test_paths_are_kind_and_name_in_lower_case() -> None:
    paths = [m.path for m in render(podinfo.canary(), podinfo.inputs(), podinfo.decision(promote=True))]
    assert "horizontalpodautoscaler-podinfo-primary.yaml" in paths
    assert "virtualservice-podinfo.yaml" in paths
    assert all(p == p.lower() and p.endswith(".yaml") for p in paths)


def test_secret_copies_are_marked_and_never_serialised() -> None:
    manifests = render(podinfo.canary(), _with_configs(), podinfo.decision(promote=True))
    secret = [m for m in manifests if m.secret]
    assert [(m.kind, m.name) for m in secret] == [("Secret", "podinfo-token-primary")]
    assert secret[0].obj["data"] == {"token": SECRET_VALUE_B64}, "the apply stage still gets the real Secret"
    assert secret[0].checksum.startswith("sha256:")
    with pytest.raises(ValueError, match="secret"):
        secret[0].to_yaml()
    for manifest in manifests:
        if not manifest.secret:
            text = manifest.to_yaml()
            assert SECRET_VALUE_B64 not in text and SECRET_VALUE not in text
            assert manifest.kind != "Secret"


def test_the_primary_uses_the_copies() -> None:
    manifests = _by_path(render(podinfo.canary(), _with_configs(), podinfo.decision(promote=True)))
    pod = manifests["deployment-podinfo-primary.yaml"].obj["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": "podinfo-env-primary"}}]
    assert container["env"][1]["valueFrom"]["secretKeyRef"]["name"] == "podinfo-token-primary"
    sources = pod["volumes"][0]["projected"]["sources"]
    assert sources == [
        {"configMap": {"name": "podinfo-files-primary"}},
        {"secret": {"name": "podinfo-token-primary"}},
    ]


def test_owner_references_need_the_canary_uid() -> None:
    canary = dataclasses.replace(podinfo.canary(), uid="6b7c-uid")
    for manifest in render(canary, _with_configs(), podinfo.decision(promote=True)):
        assert manifest.obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "flagger.app/v1beta1",
                "kind": "Canary",
                "name": "podinfo",
                "uid": "6b7c-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    for manifest in render(podinfo.canary(), _with_configs(), podinfo.decision(promote=True)):
        assert "ownerReferences" not in manifest.obj["metadata"]


def test_between_promotions_the_primary_keeps_its_template_and_configs() -> None:
    promoted = _by_path(render(podinfo.canary(), _with_configs(), podinfo.decision(promote=True)))
    primary_template = promoted["deployment-podinfo-primary.yaml"].obj["spec"]["template"]
    old_configmaps, old_secrets = podinfo.configs()
    primary_configs = {
        "configmap/podinfo-env": promoted["configmap-podinfo-env-primary.yaml"].obj,
        "configmap/podinfo-files": old_configmaps["podinfo-files"],
        "secret/podinfo-token": old_secrets["podinfo-token"],
    }
    new_target = podinfo.with_configs(podinfo.target())
    new_target["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/stefanprodan/podinfo:6.0.1"
    new_configmaps = copy.deepcopy(old_configmaps)
    new_configmaps["podinfo-env"]["data"]["PODINFO_UI_MESSAGE"] = "changed"
    inputs = _with_configs(
        target=new_target,
        configmaps=new_configmaps,
        primary_template=primary_template,
        primary_configs=primary_configs,
    )
    progressing = render(podinfo.canary(), inputs, podinfo.decision(50, 50))
    assert [(m.path, m.checksum) for m in progressing if m.kind != "VirtualService"] == [
        (m.path, m.checksum) for m in promoted.values() if m.kind != "VirtualService"
    ]
    promoting = _by_path(render(podinfo.canary(), inputs, podinfo.decision(promote=True)))
    container = promoting["deployment-podinfo-primary.yaml"].obj["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/stefanprodan/podinfo:6.0.1"
    assert promoting["configmap-podinfo-env-primary.yaml"].obj["data"]["PODINFO_UI_MESSAGE"] == "changed"


def test_rendering_does_not_modify_its_inputs() -> None:
    inputs = _with_configs()
    before = copy.deepcopy(dataclasses.asdict(inputs))
    manifests = render(podinfo.canary(), inputs, podinfo.decision(promote=True))
    for m in manifests:
        m.obj["metadata"]["name"] = "mutated"
    assert dataclasses.asdict(inputs) == before


def test_without_an_hpa_the_primary_has_replicas() -> None:
    canary = podinfo.canary()
    canary = dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, autoscaler_ref=None))
    target = podinfo.target()
    target["spec"]["replicas"] = 3
    manifests = render(canary, podinfo.inputs(target=target, hpa=None), podinfo.decision(promote=True))
    assert [m.kind for m in manifests].count("HorizontalPodAutoscaler") == 0
    deployment = next(m for m in manifests if m.kind == "Deployment")
    assert deployment.obj["spec"]["replicas"] == 3


def test_with_an_hpa_the_primary_has_no_replicas() -> None:
    target = podinfo.target()
    target["spec"]["replicas"] = 3
    manifests = render(podinfo.canary(), podinfo.inputs(target=target), podinfo.decision(promote=True))
    deployment = next(m for m in manifests if m.kind == "Deployment")
    assert "replicas" not in deployment.obj["spec"]


def test_not_promoting_needs_the_primary_template() -> None:
    with pytest.raises(ValueError, match="primary's template is needed"):
        render(podinfo.canary(), podinfo.inputs(), podinfo.decision(60, 40))


def test_a_missing_hpa_is_temporary() -> None:
    with pytest.raises(TemporaryError, match=r"HorizontalPodAutoscaler podinfo\.test not found"):
        render(podinfo.canary(), podinfo.inputs(hpa=None), podinfo.decision(promote=True))


@pytest.mark.parametrize(
    ("spec_changes", "message"),
    [
        pytest.param(
            {"autoscaler_ref": AutoscalerRef("autoscaling.k8s.io/v1", "VerticalPodAutoscaler", "podinfo")},
            "autoscalerRef.kind VerticalPodAutoscaler is not supported",
            id="vertical-pod-autoscaler",
        ),
        pytest.param(
            {"target_ref": ObjectRef("apps/v1", "StatefulSet", "podinfo")},
            "targetRef.kind StatefulSet is not supported",
            id="statefulset",
        ),
        pytest.param(
            {"target_ref": ObjectRef("apps/v1", "DaemonSet", "podinfo")},
            "target podinfo is a Deployment, not a DaemonSet",
            id="daemonset-ref-to-a-deployment",
        ),
    ],
)
def test_unsupported_kinds_are_permanent_errors(spec_changes: dict[str, Any], message: str) -> None:
    canary = podinfo.canary()
    canary = dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, **spec_changes))
    with pytest.raises(PermanentError, match=message):
        render(canary, podinfo.inputs(), podinfo.decision(promote=True))


def test_a_required_config_that_is_missing_is_temporary() -> None:
    target = podinfo.target()
    target["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [
        {"configMapRef": {"name": "absent", "optional": False}}
    ]
    with pytest.raises(TemporaryError, match="configmap/absent"):
        render(podinfo.canary(), podinfo.inputs(target=target), podinfo.decision(promote=True))


def test_server_noise_in_the_inputs_changes_nothing() -> None:
    served = podinfo.target()
    served["metadata"].update({"uid": "x", "resourceVersion": "9", "generation": 3})
    served["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "4"}
    served["spec"]["template"]["metadata"]["creationTimestamp"] = None
    served["status"] = {"replicas": 2}
    clean = render(podinfo.canary(), podinfo.inputs(), podinfo.decision(promote=True))
    noisy = render(podinfo.canary(), podinfo.inputs(target=served), podinfo.decision(promote=True))
    assert [m.to_yaml() for m in noisy] == [m.to_yaml() for m in clean]
