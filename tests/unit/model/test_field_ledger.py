"""Every leaf of the shipped CRDs is in the field ledger; the Canary's are read or refused, none dropped.

The ledger (:mod:`gitflagger.model.ledger`) lists each leaf of the Canary,
MetricTemplate and AlertProvider CRDs as implemented (naming a test, which
must exist) or refused (the parser must refuse it by its path, fed here).

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

import ast
import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import Canary, parse_canary
from gitflagger.model.ledger import LEDGERS, Implemented, Refused, entry
from gitflagger.model.refused import REFUSED as REFUSED_BY_PARENT
from gitflagger.render.routers import check_routing
from tests.unit.deploy.deploy_files import (
    ALERT_PROVIDER_CRD,
    CANARY_CRD,
    METRIC_TEMPLATE_CRD,
    REPO,
    crd,
    schema,
)
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


def _doc_with(
    path: tuple[str, ...], sample: Any, start: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A valid Canary (or ``start``) without and with the leaf set, and the leaf's path as errors spell it."""
    analysis_key = "canaryAnalysis" if "canaryAnalysis" in path else "analysis"
    base = copy.deepcopy(start) if start is not None else minimal(analysis_key=analysis_key)
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


def _refusals(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """What the controller refuses in ``doc`` before any step: the parser's and the router's problems."""
    try:
        check_routing(parse_canary(doc))
    except ValidationError as err:
        return [(p.path, p.message) for p in err.problems]
    return []


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


# ---- the ledger ------------------------------------------------------------------------------------

CRDS = {"Canary": CANARY_CRD, "MetricTemplate": METRIC_TEMPLATE_CRD, "AlertProvider": ALERT_PROVIDER_CRD}


def ledger_path(path: tuple[str, ...]) -> str:
    """``("spec", "analysis", "webhooks", "[]", "url")`` → ``spec.analysis.webhooks[].url``."""
    return ".".join(path).replace(".[]", "[]")


def _crd_leaves() -> list[tuple[str, str, str]]:
    """``(kind, version, ledger path)`` for every leaf of every served version of the shipped CRDs."""
    out = []
    for kind, name in CRDS.items():
        doc = crd(name)
        for v in doc["spec"]["versions"]:
            spec = schema(doc, v["name"])["properties"]["spec"]
            out += [(kind, v["name"], ledger_path(("spec", *p))) for p, _ in _leaves(spec)]
    return out


def test_every_leaf_of_the_shipped_crds_is_in_the_ledger_and_nothing_else_is() -> None:
    leaves = _crd_leaves()
    assert len([leaf for leaf in leaves if leaf[0] == "Canary"]) == 2 * 142
    missing = sorted({f"{k} {p}" for k, _, p in leaves if entry(k, p) is None})
    assert not missing, f"leaves in neither list of gitflagger/model/ledger.py: {missing}"
    seen = {(k, p.replace("spec.canaryAnalysis.", "spec.analysis.")) for k, _, p in leaves}
    stale = sorted(f"{k} {p}" for k, ledger in LEDGERS.items() for p in ledger if (k, p) not in seen)
    assert not stale, f"ledger entries for leaves the CRDs do not have: {stale}"


def test_no_field_is_both_implemented_and_refused() -> None:
    """A field moved to implemented must leave ``model/refused.py`` too (and the other way round)."""
    refused_parents = {f"{parent}.{key}" for parent, fields in REFUSED_BY_PARENT.items() for key in fields}
    both = []
    for path, e in LEDGERS["Canary"].items():
        under = any(path == r or path.startswith((r + ".", r + "[")) for r in refused_parents)
        if under and isinstance(e, Implemented):
            both.append(path)
    assert not both, f"implemented in the ledger, refused by model/refused.py: {both}"


def _named_tests() -> list[Any]:
    entries = [e for ledger in LEDGERS.values() for e in ledger.values()]
    tests = sorted({e.test for e in entries if isinstance(e, Implemented)})
    return [pytest.param(t, id=t) for t in tests]


@pytest.mark.parametrize("name", _named_tests())
def test_each_named_test_exists(name: str) -> None:
    file, _, function = name.partition("::")
    path = REPO / file
    assert path.is_file(), f"{name}: no file {file}"
    tree = ast.parse(path.read_text())
    functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert function.startswith("test_") and function in functions, f"{name}: no such test function"


def _ledger_cases(want: type) -> list[Any]:
    out = []
    for version in ("v1beta1", "v1alpha3"):
        spec = schema(crd(CANARY_CRD), version)["properties"]["spec"]
        for path, sample in _leaves(spec):
            full = ("spec", *path)
            e = entry("Canary", ledger_path(full))
            if isinstance(e, want):
                out.append(pytest.param(version, full, sample, e, id=f"{version}-{ledger_path(full)}"))
    return out


@pytest.mark.parametrize(("version", "path", "sample", "e"), _ledger_cases(Refused))
def test_each_refused_leaf_is_refused_by_its_path(
    version: str, path: tuple[str, ...], sample: Any, e: Refused
) -> None:
    without, with_leaf, leaf = _doc_with(path, copy.deepcopy(sample))
    with_leaf["apiVersion"] = without["apiVersion"] = f"flagger.app/{version}"
    assert _refusals(without) == []
    problems = _refusals(with_leaf)
    owners = [
        (p, m) for p, m in problems if p == leaf or (leaf.startswith((p + ".", p + "[")) and p not in BLOCKS)
    ]
    assert owners, f"{leaf} is in the ledger's refused list but the parser does not refuse it: {problems}"
    assert all(len(m) > 20 for _, m in owners), f"{leaf}: the error must say why: {owners}"


@pytest.mark.parametrize(("version", "path", "sample", "e"), _ledger_cases(Implemented))
def test_no_implemented_leaf_is_refused_as_unsupported(
    version: str, path: tuple[str, ...], sample: Any, e: Implemented
) -> None:
    """Set to a sample of its type, an implemented leaf is not refused; its refused_value is."""
    _, with_leaf, leaf = _doc_with(path, copy.deepcopy(sample))
    with_leaf["apiVersion"] = f"flagger.app/{version}"
    unsupported = [(p, m) for p, m in _refusals(with_leaf) if p == leaf and "not supported" in m]
    assert not unsupported, f"{leaf} is in the ledger's implemented list but refused: {unsupported}"
    if e.refused_value is not None:
        _, refused, _ = _doc_with(path, copy.deepcopy(e.refused_value))
        refused["apiVersion"] = f"flagger.app/{version}"
        assert [p for p, _ in _refusals(refused)] == [leaf], f"{leaf}: {e.refused_value!r} must be refused"


def test_the_templates_and_providers_have_no_refused_field() -> None:
    """Every MetricTemplate and AlertProvider leaf is acted on; a refused one needs a feeding case above."""
    for kind in ("MetricTemplate", "AlertProvider"):
        assert all(isinstance(e, Implemented) for e in LEDGERS[kind].values()), kind
