"""Revision hashes: pinned values, and equality across the spellings of one object."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from gitflagger.model import canonical_json, config_checksum, pod_template_hash
from gitflagger.model.hashing import normalize

TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "podinfo"}, "annotations": {"prometheus.io/scrape": "true"}},
    "spec": {
        "containers": [
            {
                "name": "podinfod",
                "image": "ghcr.io/stefanprodan/podinfo:6.0.0",
                "ports": [{"name": "http", "containerPort": 9898, "protocol": "TCP"}],
                "env": [{"name": "PODINFO_UI_MESSAGE", "value": "grüß dich"}],
            }
        ]
    },
}
CANONICAL = (
    '{"metadata":{"annotations":{"prometheus.io/scrape":"true"},"labels":{"app":"podinfo"}},'
    '"spec":{"containers":[{"env":[{"name":"PODINFO_UI_MESSAGE","value":"grüß dich"}],'
    '"image":"ghcr.io/stefanprodan/podinfo:6.0.0","name":"podinfod",'
    '"ports":[{"containerPort":9898,"name":"http","protocol":"TCP"}]}]}}'
)
PINNED = "sha256:adcd33988440860fac90a1543d1169c2892d75fb41348c7d551d660183be77c0"


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json(normalize(TEMPLATE)) == CANONICAL.encode("utf-8")


def test_pinned_hash_never_changes() -> None:
    """If this fails, every Canary in every cluster would see a new revision: never re-pin lightly."""
    assert pod_template_hash(TEMPLATE) == PINNED
    assert "sha256:" + hashlib.sha256(CANONICAL.encode("utf-8")).hexdigest() == PINNED


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: reversed_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(v) for v in value]
    return value


def test_key_order_does_not_matter() -> None:
    flipped = reversed_keys(TEMPLATE)
    assert list(flipped) == ["spec", "metadata"]
    assert pod_template_hash(flipped) == PINNED


def as_served(template: dict[str, Any]) -> dict[str, Any]:
    """The same template as the API server and the Python client spell it."""
    served: dict[str, Any] = reversed_keys(template)
    served["metadata"]["creationTimestamp"] = None
    container = served["spec"]["containers"][0]
    container.update(resources={}, command=None, volumeMounts=[], stdin=None)
    container["ports"][0]["containerPort"] = 9898.0
    served["spec"]["nodeSelector"] = {}
    served["spec"]["securityContext"] = {"runAsUser": None}
    return served


def test_api_and_client_spellings_hash_like_the_users_yaml() -> None:
    assert pod_template_hash(as_served(TEMPLATE)) == PINNED


SAME = [
    ("int-vs-float", {"a": 1}, {"a": 1.0}),
    ("null-vs-absent", {"a": 1, "b": None}, {"a": 1}),
    ("empty-map-vs-absent", {"a": 1, "b": {}}, {"a": 1}),
    ("empty-list-vs-absent", {"a": 1, "b": []}, {"a": 1}),
    ("map-emptied-by-nulls", {"a": 1, "b": {"c": None, "d": []}}, {"a": 1}),
    ("tuple-vs-list", {"a": (1, 2)}, {"a": [1, 2]}),
]
DIFFERENT = [
    ("image", {"image": "podinfo:6.0.0"}, {"image": "podinfo:6.0.1"}),
    ("list-order", {"args": ["a", "b"]}, {"args": ["b", "a"]}),
    ("empty-string-kept", {"args": [""]}, {"args": []}),
    ("empty-list-item-keeps-its-place", {"x": [{}, {"a": 1}]}, {"x": [{"a": 1}]}),
    ("bool-is-not-int", {"a": True}, {"a": 1}),
    ("string-is-not-number", {"a": "1"}, {"a": 1}),
    ("fraction-kept", {"a": 0.5}, {"a": 0}),
]


@pytest.mark.parametrize(("left", "right"), [s[1:] for s in SAME], ids=[s[0] for s in SAME])
def test_equal_spellings_hash_equal(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert pod_template_hash(left) == pod_template_hash(right)


@pytest.mark.parametrize(("left", "right"), [d[1:] for d in DIFFERENT], ids=[d[0] for d in DIFFERENT])
def test_different_templates_hash_different(left: dict[str, Any], right: dict[str, Any]) -> None:
    assert pod_template_hash(left) != pod_template_hash(right)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_non_finite_numbers_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        pod_template_hash({"a": bad})


def test_unhashable_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="object"):
        pod_template_hash({"a": object()})


# -- ConfigMaps and Secrets ---------------------------------------------------------------


def test_pinned_config_checksums() -> None:
    assert config_checksum("ConfigMap", {"color": "blue"}, None) == (
        "sha256:81bb65a20a0e9009722e847b1a7edb988556ab3162345a7318ff4c39b58589b6"
    )
    assert config_checksum("Secret", {"token": "czNjcjN0"}, None) == (
        "sha256:0f64ed064183fe6529c409ea3a0bab0b6a457662dad692ff8566a8757f6dc33d"
    )


def test_config_checksum_spellings() -> None:
    base = config_checksum("ConfigMap", {"a": "1", "b": "2"}, None)
    assert config_checksum("ConfigMap", {"b": "2", "a": "1"}, {}) == base
    assert config_checksum("ConfigMap", {"a": "1", "b": "2", "c": None}, None) == base
    assert config_checksum("ConfigMap", {"a": "1", "b": "3"}, None) != base
    assert config_checksum("ConfigMap", {"a": "1"}, {"b": "Mg=="}) != base


def test_secret_bytes_and_base64_agree_and_never_leak() -> None:
    checksum = config_checksum("Secret", {"token": b"s3cr3t"}, None)
    assert checksum == config_checksum("Secret", {"token": "czNjcjN0"}, None)
    assert "s3cr3t" not in checksum and "czNjcjN0" not in checksum


def test_kind_is_part_of_the_checksum() -> None:
    assert config_checksum("ConfigMap", {"a": "1"}, None) != config_checksum("Secret", {"a": "1"}, None)
