"""Canonical YAML: byte-stable, noise-free, and read back as exactly what was written."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitflagger.render import render
from gitflagger.render.yaml import dump_canonical, strip_noise
from tests.unit.render import podinfo


def _load(text: str) -> Any:
    return YAML(typ="safe", pure=True).load(text)


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same data with every mapping's keys in a random insertion order (lists untouched)."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: _shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


def test_rendering_twice_gives_the_same_bytes() -> None:
    first = [m.to_yaml() for m in render(podinfo.canary(), podinfo.inputs(), podinfo.decision(promote=True))]
    second = [m.to_yaml() for m in render(podinfo.canary(), podinfo.inputs(), podinfo.decision(promote=True))]
    assert first == second


@pytest.mark.parametrize("seed", range(5))
def test_input_key_order_does_not_change_the_bytes(seed: int) -> None:
    rng = random.Random(seed)
    configmaps, secrets = podinfo.configs()
    target = podinfo.with_configs(podinfo.target())
    plain = podinfo.inputs(target=target, configmaps=configmaps, secrets=secrets)
    shuffled = podinfo.inputs(
        target=_shuffled(target, rng),
        hpa=_shuffled(podinfo.hpa(), rng),
        configmaps=_shuffled(configmaps, rng),
        secrets=_shuffled(secrets, rng),
    )
    decision = podinfo.decision(promote=True)
    expected = [(m.path, m.checksum) for m in render(podinfo.canary(), plain, decision)]
    actual = [(m.path, m.checksum) for m in render(podinfo.canary(), shuffled, decision)]
    assert actual == expected
    assert [m.to_yaml() for m in render(podinfo.canary(), shuffled, decision) if not m.secret] == [
        m.to_yaml() for m in render(podinfo.canary(), plain, decision) if not m.secret
    ]


def test_kubernetes_keys_lead_and_the_rest_is_sorted() -> None:
    obj = {
        "status": {"x": 1},
        "data": {"b": "2", "a": "1"},
        "spec": {"z": 1, "a": 2},
        "metadata": {"labels": {"b": "x", "a": "y"}, "namespace": "test", "name": "cfg"},
        "kind": "Thing",
        "apiVersion": "example.com/v1",
    }
    assert dump_canonical(obj) == (
        "apiVersion: example.com/v1\n"
        "kind: Thing\n"
        "metadata:\n"
        "  name: cfg\n"
        "  namespace: test\n"
        "  labels:\n"
        "    a: 'y'\n"  # y is a boolean in YAML 1.1
        "    b: x\n"
        "spec:\n"
        "  a: 2\n"
        "  z: 1\n"
        "data:\n"
        "  a: '1'\n"
        "  b: '2'\n"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", "'true'"),
        ("yes", "'yes'"),  # a boolean to YAML 1.1 readers (kubectl, Flux, Argo CD)
        ("on", "'on'"),
        ("y", "'y'"),
        ("9797", "'9797'"),
        ("0755", "'0755'"),  # octal in YAML 1.1
        ("1:30", "'1:30'"),  # sexagesimal in YAML 1.1
        ("null", "'null'"),
        ("", "''"),
        ("#34577c", "'#34577c'"),
        ("hello world", "hello world"),
        ("ghcr.io/stefanprodan/podinfo:6.0.0", "ghcr.io/stefanprodan/podinfo:6.0.0"),
        (3, "3"),
        (None, "null"),
        (True, "true"),
    ],
)
def test_strings_are_quoted_only_when_a_plain_scalar_would_be_misread(value: object, expected: str) -> None:
    text = dump_canonical({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": value}})
    assert text.splitlines()[-1] == f"  k: {expected}"


def test_multi_line_strings_use_literal_block_style() -> None:
    text = dump_canonical({"data": {"config.yaml": "level: info\nport: 9898\n"}})
    assert text == "data:\n  config.yaml: |\n    level: info\n    port: 9898\n"


def test_no_document_markers_and_exactly_one_trailing_newline() -> None:
    text = dump_canonical({"apiVersion": "v1", "kind": "List", "items": []})
    assert not text.startswith("---")
    assert "\n...\n" not in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_long_strings_are_never_folded() -> None:
    long = "x " * 200
    text = dump_canonical({"data": {"k": long.strip()}})
    assert len(text.splitlines()) == 2


def test_noise_is_stripped() -> None:
    served = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "podinfo",
            "namespace": "test",
            "uid": "0d4f",
            "resourceVersion": "123",
            "generation": 4,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "selfLink": "/apis/apps/v1/namespaces/test/deployments/podinfo",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "deployment.kubernetes.io/revision": "3",
            },
            "labels": {"app": "podinfo"},
        },
        "spec": {"template": {"metadata": {"creationTimestamp": None, "labels": {"app": "podinfo"}}}},
        "status": {"replicas": 2},
    }
    assert strip_noise(served) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "podinfo", "namespace": "test", "labels": {"app": "podinfo"}},
        "spec": {"template": {"metadata": {"labels": {"app": "podinfo"}}}},
    }
    assert "status" in served and "uid" in served["metadata"], "strip_noise must not modify its input"


def test_kept_annotations_survive_noise_stripping() -> None:
    obj = {"metadata": {"name": "x", "annotations": {"a": "1", "deployment.kubernetes.io/revision": "2"}}}
    assert strip_noise(obj)["metadata"]["annotations"] == {"a": "1"}


def test_every_golden_file_reads_back_as_the_rendered_object() -> None:
    for manifest in render(podinfo.canary(), podinfo.inputs(), podinfo.decision(promote=True)):
        assert _load(manifest.to_yaml()) == strip_noise(manifest.obj)


_keys = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(st.characters(codec="utf-8"), max_size=40)
    | st.sampled_from(["yes", "no", "on", "off", "y", "n", "~", "0o17", "017", "1_000", "1:20", "1e3", ".5"])
    | st.sampled_from(["a\nb", "trailing \nspace", "\ttab\n", "x\n\n", " lead", "- item", "key: value"])
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys.filter(lambda k: k not in ("status", "metadata", "spec")), _values, max_size=6))
def test_any_data_reads_back_exactly(data: dict[str, Any]) -> None:
    text = dump_canonical(data)
    assert _load(text) == data
    assert dump_canonical(data) == text
