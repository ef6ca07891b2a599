"""Every leaf of the shipped Canary CRD is read by the parser or refused: none is dropped.

For each leaf of ``deploy/crds`` (both versions), a valid Canary gets that one
field set to a sample value of its schema type. The leaf counts as read when the
parsed Canary differs from the one without it, or when the parser reports a
problem at the leaf or at one of its own parents (a refusal, or a value it
checked and found wrong). A new CRD field that the parser silently drops fails
here. Whether a *parsed* field is also acted on downstream is what the README's
Canary model section and its named tests say; the fields that are not are
refused (:mod:`gitflagger.model.refused`, ``test_refused_fields.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import Canary, parse_canary
from tests.unit.deploy.deploy_files import CANARY_CRD, crd, schema
from tests.unit.model.canaries import minimal

BASE_ITEMS: dict[str, dict[str, Any]] = {
    "metrics": {"name": "request-success-rate", "thresholdRange": {"min": 99}},
    "webhooks": {"name": "hook", "url": "http://hook.test/"},
    "alerts": {"name": "chat", "providerRef": {"name": "slack"}},
}
"""A valid list item to set one leaf on, per list of the analysis."""
LEGACY_METRIC = {"name": "request-success-rate", "threshold": 99}
"""The base item for ``metrics[].threshold``: next to a ``thresholdRange``, which wins, it is unused."""
BLOCKS = ("spec", "spec.analysis", "spec.canaryAnalysis")
"""Problems at these paths are about the whole Canary or analysis, not about one leaf."""
BASE_BLOCKS: dict[str, dict[str, Any]] = {
    "autoscalerRef": {"kind": "HorizontalPodAutoscaler", "name": "podinfo"},
    "sessionAffinity": {"cookieName": "canary"},
    "templateRef": {"name": "template"},
}
"""A valid block to set one leaf in, where the block has required fields."""
SAMPLES = {"string": "x1", "integer": 7, "number": 7.5, "boolean": True, "object": {"a": "b"}, None: 8080}


def _leaves(node: Mapping[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if "properties" in node:
        for key, child in node["properties"].items():
            yield from _leaves(child, (*path, key))
    elif node.get("type") == "array" and "items" in node:
        for sub, sample in _leaves(node["items"], ()):
            yield (*path, "[]", *sub), sample
    else:
        yield path, SAMPLES[node.get("type")]


def _cases() -> list[Any]:
    out = []
    for version in ("v1beta1", "v1alpha3"):
        spec = schema(crd(CANARY_CRD), version)["properties"]["spec"]
        for path, sample in _leaves(spec):
            full = ("spec", *path)
            out.append(pytest.param(version, full, sample, id=f"{version}-{'.'.join(full)}"))
    return out


def _doc_with(path: tuple[str, ...], sample: Any) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A valid Canary without and with the leaf set, and the leaf's path as errors spell it."""
    analysis_key = "canaryAnalysis" if "canaryAnalysis" in path else "analysis"
    base = minimal(analysis_key=analysis_key)
    node: Any = base
    spelled: list[str] = []
    for i, key in enumerate(path[:-1]):
        if key == "[]":
            continue
        nxt = path[i + 1]
        if nxt == "[]":
            item = LEGACY_METRIC if (key, path[-1]) == ("metrics", "threshold") else BASE_ITEMS.get(key, {})
            node = node.setdefault(key, [copy.deepcopy(item)])[0]
            spelled.append(f"{key}[0]")
        else:
            node = node.setdefault(key, copy.deepcopy(BASE_BLOCKS.get(key, {})))
            spelled.append(key)
    without = copy.deepcopy(base)
    last = path[-1]
    if last == "[]":  # a list of scalars: the sample is its one item
        container = path[-2]
        parent: Any = base
        for key in spelled[:-1]:
            parent = parent[key.removesuffix("[0]")][0] if key.endswith("[0]") else parent[key]
        parent[container] = [sample]
        _drop(without, spelled)
        return without, base, ".".join(spelled).removesuffix("[0]")
    node[last] = sample
    return without, base, ".".join([*spelled, last])


def _drop(doc: dict[str, Any], spelled: list[str]) -> None:
    node: Any = doc
    for key in spelled[:-1]:
        node = node[key.removesuffix("[0]")][0] if key.endswith("[0]") else node[key]
    node.pop(spelled[-1].removesuffix("[0]"), None)


def _parse(doc: dict[str, Any]) -> Canary | list[str]:
    try:
        return parse_canary(doc)
    except ValidationError as err:
        return [p.path for p in err.problems]


@pytest.mark.parametrize(("version", "path", "sample"), _cases())
def test_every_canary_leaf_is_read_or_refused(version: str, path: tuple[str, ...], sample: Any) -> None:
    without, with_leaf, leaf = _doc_with(path, copy.deepcopy(sample))
    with_leaf["apiVersion"] = without["apiVersion"] = f"flagger.app/{version}"
    before, after = _parse(without), _parse(with_leaf)
    assert not isinstance(before, list), f"the base Canary for {leaf} must be valid: {before}"
    if isinstance(after, list):
        owners = [p for p in after if p == leaf or (leaf.startswith((p + ".", p + "[")) and p not in BLOCKS)]
        assert owners, f"{leaf}: problems elsewhere only: {after}"
    else:
        assert after != before, f"{leaf} is accepted and dropped by the parser: refuse it or act on it"
