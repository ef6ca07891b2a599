"""Config tracking: which ConfigMaps and Secrets count, their checksums, copies and rewritten refs."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gitflagger.errors import TemporaryError
from gitflagger.model.hashing import config_checksum
from gitflagger.render.configs import (
    ConfigRef,
    config_refs,
    encode_secret_data,
    primary_config_copies,
    require_configs,
    rewrite_config_refs,
    tracked_configs,
)


def _template(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "podinfo"}}, "spec": spec}


def _container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "app:1", **fields}


REFERENCE_SITES = [
    pytest.param(
        {"volumes": [{"name": "v", "configMap": {"name": "cm"}}]},
        ConfigRef("configmap", "cm"),
        id="volume-cm",
    ),
    pytest.param(
        {"volumes": [{"name": "v", "secret": {"secretName": "s"}}]},
        ConfigRef("secret", "s"),
        id="volume-secret",
    ),
    pytest.param(
        {"volumes": [{"name": "v", "projected": {"sources": [{"configMap": {"name": "cm"}}]}}]},
        ConfigRef("configmap", "cm"),
        id="projected-cm",
    ),
    pytest.param(
        {"volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "s"}}]}}]},
        ConfigRef("secret", "s"),
        id="projected-secret",
    ),
    pytest.param(
        {"containers": [_container(envFrom=[{"configMapRef": {"name": "cm"}}])]},
        ConfigRef("configmap", "cm"),
        id="envFrom-cm",
    ),
    pytest.param(
        {"containers": [_container(envFrom=[{"secretRef": {"name": "s"}}])]},
        ConfigRef("secret", "s"),
        id="envFrom-secret",
    ),
    pytest.param(
        {
            "containers": [
                _container(env=[{"name": "E", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}])
            ]
        },
        ConfigRef("configmap", "cm"),
        id="env-cm",
    ),
    pytest.param(
        {
            "containers": [
                _container(env=[{"name": "E", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}])
            ]
        },
        ConfigRef("secret", "s"),
        id="env-secret",
    ),
    pytest.param(
        {"initContainers": [_container(envFrom=[{"configMapRef": {"name": "cm"}}])], "containers": []},
        ConfigRef("configmap", "cm"),
        id="init-container",
    ),
    pytest.param(
        {"volumes": [{"name": "v", "configMap": {"name": "cm", "optional": False}}]},
        ConfigRef("configmap", "cm", required=True),
        id="optional-false-is-required",
    ),
    pytest.param(
        {"volumes": [{"name": "v", "configMap": {"name": "cm", "optional": True}}]},
        ConfigRef("configmap", "cm"),
        id="optional-true",
    ),
]


@pytest.mark.parametrize(("spec", "expected"), REFERENCE_SITES)
def test_every_reference_site_is_found(spec: dict[str, Any], expected: ConfigRef) -> None:
    assert config_refs(_template(spec)) == (expected,)


@pytest.mark.parametrize(("spec", "ref"), REFERENCE_SITES)
def test_every_reference_site_is_rewritten(spec: dict[str, Any], ref: ConfigRef) -> None:
    template = _template(spec)
    rewritten = rewrite_config_refs(template, {ref.key})
    assert config_refs(rewritten) == (ConfigRef(ref.kind, f"{ref.name}-primary", ref.required),)
    assert config_refs(template) == (ref,), "the input template must not change"


def test_untracked_references_are_not_rewritten() -> None:
    template = _template(
        {
            "containers": [
                _container(envFrom=[{"configMapRef": {"name": "a"}}, {"configMapRef": {"name": "b"}}])
            ]
        }
    )
    rewritten = rewrite_config_refs(template, {"configmap/a", "secret/b"})
    assert config_refs(rewritten) == (ConfigRef("configmap", "a-primary"), ConfigRef("configmap", "b"))


def test_references_are_deduplicated_and_sorted() -> None:
    template = _template(
        {
            "volumes": [
                {"name": "v", "secret": {"secretName": "s"}},
                {"name": "w", "configMap": {"name": "cm"}},
            ],
            "containers": [_container(envFrom=[{"configMapRef": {"name": "cm", "optional": False}}])],
        }
    )
    assert config_refs(template) == (ConfigRef("configmap", "cm", required=True), ConfigRef("secret", "s"))


def _cm(name: str, data: dict[str, str] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, **meta},
        "data": data or {"k": "v"},
    }


def _secret(name: str, type_: str | None = "Opaque", **meta: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, **meta},
        "data": {"k": "dg=="},
    }
    if type_ is not None:
        obj["type"] = type_
    return obj


ALL_REFS = _template(
    {
        "volumes": [{"name": "v", "secret": {"secretName": "s"}}, {"name": "w", "configMap": {"name": "cm"}}],
        "containers": [_container()],
    }
)


def test_tracked_configs_are_keyed_by_kind_and_name_with_checksums() -> None:
    cm, secret = _cm("cm"), _secret("s")
    assert tracked_configs(ALL_REFS, {"cm": cm, "other": _cm("other")}, {"s": secret}) == {
        "configmap/cm": config_checksum("configmap", cm["data"], None),
        "secret/s": config_checksum("secret", secret["data"], None),
    }


@pytest.mark.parametrize(
    ("configmaps", "secrets", "expected_keys"),
    [
        pytest.param({}, {}, [], id="missing-are-skipped"),
        pytest.param(
            {"cm": _cm("cm", annotations={"flagger.app/config-tracking": "disabled"})},
            {"s": _secret("s")},
            ["secret/s"],
            id="opted-out-configmap",
        ),
        pytest.param(
            {"cm": _cm("cm")},
            {"s": _secret("s", annotations={"flagger.app/config-tracking": "disable"})},
            ["configmap/cm"],
            id="opted-out-secret",
        ),
        pytest.param(
            {}, {"s": _secret("s", "kubernetes.io/dockerconfigjson")}, [], id="registry-secret-ignored"
        ),
        pytest.param(
            {}, {"s": _secret("s", "kubernetes.io/service-account-token")}, [], id="sa-token-ignored"
        ),
        pytest.param({}, {"s": _secret("s", "kubernetes.io/tls")}, ["secret/s"], id="tls-secret"),
        pytest.param({}, {"s": _secret("s", "kubernetes.io/basic-auth")}, ["secret/s"], id="basic-auth"),
        pytest.param({}, {"s": _secret("s", "kubernetes.io/ssh-auth")}, ["secret/s"], id="ssh-auth"),
        pytest.param({}, {"s": _secret("s", None)}, ["secret/s"], id="untyped-is-opaque"),
    ],
)
def test_which_configs_are_tracked(
    configmaps: dict[str, Any], secrets: dict[str, Any], expected_keys: list[str]
) -> None:
    assert sorted(tracked_configs(ALL_REFS, configmaps, secrets)) == expected_keys


def test_a_checksum_changes_with_the_content_only() -> None:
    before = tracked_configs(ALL_REFS, {"cm": _cm("cm", {"a": "1"})}, {})
    relabelled = tracked_configs(ALL_REFS, {"cm": _cm("cm", {"a": "1"}, labels={"x": "y"})}, {})
    changed = tracked_configs(ALL_REFS, {"cm": _cm("cm", {"a": "2"})}, {})
    assert before == relabelled
    assert before != changed


def test_secret_string_data_is_folded_into_data() -> None:
    as_data = {"kind": "Secret", "data": {"token": base64.b64encode(b"abc").decode()}}
    as_string_data = {"kind": "Secret", "stringData": {"token": "abc"}}
    assert encode_secret_data(as_data) == encode_secret_data(as_string_data)
    refs = _template({"volumes": [{"name": "v", "secret": {"secretName": "s"}}], "containers": []})
    assert tracked_configs(refs, {}, {"s": as_data}) == tracked_configs(refs, {}, {"s": as_string_data})


def test_a_missing_required_config_is_a_temporary_error() -> None:
    template = _template({"volumes": [{"name": "v", "configMap": {"name": "cm", "optional": False}}]})
    with pytest.raises(TemporaryError, match=r"configmap/cm \(optional: false\), which does not exist"):
        require_configs(template, {}, {}, who="deployment podinfo.test")
    require_configs(template, {"cm": _cm("cm")}, {}, who="deployment podinfo.test")


def test_a_missing_config_without_optional_false_is_no_error() -> None:
    require_configs(ALL_REFS, {}, {}, who="deployment podinfo.test")
    assert tracked_configs(ALL_REFS, {}, {}) == {}


def test_primary_copies() -> None:
    owner = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo", "uid": "u"}
    cm = _cm("cm", labels={"app": "podinfo", "team": "web"}, annotations={"a": "b"})
    cm["binaryData"] = {"blob": "AAE="}
    cm["immutable"] = True
    secret = {**_secret("s", "kubernetes.io/tls"), "stringData": {"extra": "x"}}
    copies = primary_config_copies(
        {"secret/s": secret, "configmap/cm": cm},
        namespace="test",
        owner_references=[owner],
        include_label_prefixes=("team",),
    )
    assert copies == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cm-primary",
                "namespace": "test",
                "labels": {"team": "web"},
                "ownerReferences": [owner],
            },
            "data": {"k": "v"},
            "binaryData": {"blob": "AAE="},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "s-primary", "namespace": "test", "ownerReferences": [owner]},
            "type": "kubernetes.io/tls",
            "data": {"extra": "eA==", "k": "dg=="},
        },
    ]


def test_copying_a_copy_gives_the_same_copy() -> None:
    first = primary_config_copies({"configmap/cm": _cm("cm")}, namespace="test")
    again = primary_config_copies({"configmap/cm": first[0]}, namespace="test")
    assert again == first
