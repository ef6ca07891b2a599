"""A field outside the Canary schema is refused by its path; the model's field tree is the CRD's.

A Canary file keeps a typo that the API server would prune, so the parser
refuses it (:mod:`gitflagger.model.known_fields`). The tree it checks against
lives in the model (which reads no files); the first test derives the tree from
the shipped CRD, for both served versions, so a CRD change that is not made in
the model too fails here.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary
from gitflagger.model.known_fields import (
    ALERT_PROVIDER_FIELDS,
    CANARY_FIELDS,
    METRIC_TEMPLATE_FIELDS,
    FieldTree,
)
from gitflagger.model.templates import parse_alert_provider, parse_metric_template
from tests.unit.deploy.deploy_files import (
    ALERT_PROVIDER_CRD,
    CANARY_CRD,
    METRIC_TEMPLATE_CRD,
    REPO,
    crd,
    schema,
)
from tests.unit.model.canaries import edited, minimal, problems_of

UNKNOWN = "is not a Canary field (the API server would drop it)"


def _tree(node: Mapping[str, Any]) -> FieldTree | None:
    """The field tree of a CRD schema node: a list counts as its items; open nodes are ``None``."""
    if node.get("type") == "array" and "items" in node:
        return _tree(node["items"])
    if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        return {key: _tree(child) for key, child in node["properties"].items()}
    return None


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha3"])
def test_the_model_field_tree_is_the_shipped_crd_tree(version: str) -> None:
    root = schema(crd(CANARY_CRD), version)
    expected = {key: None for key in root["properties"]} | {"spec": _tree(root["properties"]["spec"])}
    assert expected == CANARY_FIELDS


TYPOS = [
    ("v1beta1", {"spce": {}}, "spce", "did you mean spec?"),
    ("v1beta1", {"spec__servce": {"port": 80}}, "spec.servce", "did you mean service?"),
    ("v1beta1", {"spec__service__prot": 80}, "spec.service.prot", "did you mean port?"),
    ("v1beta1", {"spec__analysis__stepWeigth": 10}, "spec.analysis.stepWeigth", "did you mean stepWeight?"),
    (
        "v1beta1",
        {
            "spec__analysis__metrics": [
                {"name": "request-success-rate", "thresholdRange": {"min": 99}, "intervall": "1m"}
            ]
        },
        "spec.analysis.metrics[0].intervall",
        "did you mean interval?",
    ),
    (
        "v1beta1",
        {"spec__analysis__metrics": [{"name": "x", "query": "up", "thresholdRange": {"min": 1, "mx": 2}}]},
        "spec.analysis.metrics[0].thresholdRange.mx",
        "did you mean",
    ),
    (
        "v1beta1",
        {
            "spec__analysis__webhooks": [
                {"name": "a", "url": "http://a.test/"},
                {"name": "b", "url": "http://b.test/", "tipe": "pre-rollout"},
            ]
        },
        "spec.analysis.webhooks[1].tipe",
        "did you mean type?",
    ),
    (
        "v1beta1",
        {"spec__analysis__sessionAffinity": {"cookieName": "c", "maxAges": 60}},
        "spec.analysis.sessionAffinity.maxAges",
        "did you mean maxAge?",
    ),
    ("v1beta1", {"spec__targetRef__nmae": "x"}, "spec.targetRef.nmae", "did you mean name?"),
    (
        "v1beta1",
        {"spec__service__apex": {"label": {"a": "b"}}},
        "spec.service.apex.label",
        "did you mean labels?",
    ),
    (
        "v1alpha3",
        {"spec__canaryAnalysis__maxWieght": 50},
        "spec.canaryAnalysis.maxWieght",
        "did you mean maxWeight?",
    ),
    ("v1alpha3", {"spec__canaryAnalysis__zzz": 1}, "spec.canaryAnalysis.zzz", ""),
]


@pytest.mark.parametrize(("version", "changes", "path", "hint"), TYPOS, ids=[t[2] for t in TYPOS])
def test_an_unknown_field_is_refused_with_its_path(
    version: str, changes: dict[str, Any], path: str, hint: str
) -> None:
    key = "canaryAnalysis" if version == "v1alpha3" else "analysis"
    doc = edited(minimal(f"flagger.app/{version}", analysis_key=key), **changes)
    problems = problems_of(doc)
    assert [p for p in problems if UNKNOWN in p] == [p for p in problems if p.startswith(path + ": ")]
    [line] = [p for p in problems if p.startswith(path + ": ")]
    assert line.startswith(f"{path}: {UNKNOWN}")
    assert hint in line


def test_every_unknown_field_is_listed_in_one_error() -> None:
    doc = edited(minimal(), spec__servce={}, spec__analysis__stepWeigth=10, spec__service__hostz=["a"])
    with pytest.raises(ValidationError) as info:
        parse_canary(doc)
    paths = [p.path for p in info.value.problems]
    assert sorted(paths) == ["spec.analysis.stepWeigth", "spec.servce", "spec.service.hostz"]
    assert "spec.analysis.stepWeigth" in str(info.value)


def test_a_key_that_is_not_a_string_is_refused() -> None:
    doc = edited(minimal(), spec__analysis__stepWeight=10)
    doc["spec"]["analysis"][1] = 2
    assert problems_of(doc) == ["spec.analysis.1: is not a field name (keys must be strings)"]


def test_open_parts_of_the_schema_take_any_field() -> None:
    doc = edited(
        minimal(),
        metadata__labels={"app.kubernetes.io/name": "podinfo"},
        metadata__annotations={"any": "thing"},
        metadata__managedFields=[{"manager": "kubectl"}],
        metadata__resourceVersion="12",
        status={"phase": "Succeeded", "somethingNew": 1},
        spec__service__trafficPolicy={"tls": {"mode": "ISTIO_MUTUAL"}, "newIstioField": True},
        spec__service__match=[{"uri": {"prefix": "/"}, "anything": 1}],
        spec__service__retries={"attempts": 3, "perTryTimeout": "1s", "whatever": "x"},
        spec__service__primary={"labels": {"a": "b"}, "annotations": {"c": "d"}},
        spec__analysis__match=[{"headers": {"x": {"exact": "y"}}}],
        spec__analysis__webhooks=[{"name": "w", "url": "http://w.test/", "metadata": {"free": "form"}}],
        spec__analysis__metrics=[
            {
                "name": "m",
                "templateRef": {"name": "t"},
                "templateVariables": {"any": "var"},
                "thresholdRange": {"max": 1},
            }
        ],
    )
    assert parse_canary(doc).name == "podinfo"


def _canary_files() -> list[Path]:
    files = [*sorted((REPO / "fixtures").rglob("*.yaml")), *sorted((REPO / "tests").rglob("*.yaml"))]
    typos = REPO / "fixtures" / "invalid" / "unknown-fields.yaml"  # this one's typos are the point
    return [f for f in files if f != typos and "kind: Canary\n" in f.read_text(errors="replace")]


@pytest.mark.parametrize("path", _canary_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_canary_file_shipped_with_the_repo_has_an_unknown_field(path: Path) -> None:
    for doc in load_documents([path]):
        if doc.get("kind") != "Canary":
            continue
        try:
            parse_canary(doc)
        except ValidationError as err:
            assert not [p for p in err.problems if UNKNOWN in p.message], str(err)


@pytest.mark.parametrize(
    ("crd_name", "tree"),
    [(METRIC_TEMPLATE_CRD, METRIC_TEMPLATE_FIELDS), (ALERT_PROVIDER_CRD, ALERT_PROVIDER_FIELDS)],
)
def test_the_template_and_provider_field_trees_are_the_shipped_crd_trees(
    crd_name: str, tree: FieldTree
) -> None:
    root = schema(crd(crd_name), "v1beta1")
    expected = {key: None for key in root["properties"]} | {"spec": _tree(root["properties"]["spec"])}
    assert expected == tree


TEMPLATE = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "MetricTemplate",
    "metadata": {"name": "errors", "namespace": "test"},
    "spec": {"provider": {"type": "prometheus", "address": "http://prom.test:9090"}, "query": "sum(up)"},
}
PROVIDER = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "AlertProvider",
    "metadata": {"name": "chat", "namespace": "test"},
    "spec": {"type": "slack", "address": "https://hooks.slack.test/x"},
}


@pytest.mark.parametrize(
    ("doc", "parse", "kind", "changes", "path"),
    [
        (TEMPLATE, parse_metric_template, "MetricTemplate", {"spec__qurey": "x"}, "spec.qurey"),
        (
            TEMPLATE, parse_metric_template, "MetricTemplate", {"spec__provider__adress": "x"},
            "spec.provider.adress",
        ),
        (TEMPLATE, parse_metric_template, "MetricTemplate", {"spec__provider__secretRef": {"nam": "s"}},
         "spec.provider.secretRef.nam"),
        (PROVIDER, parse_alert_provider, "AlertProvider", {"spec__chanel": "#ops"}, "spec.chanel"),
        (PROVIDER, parse_alert_provider, "AlertProvider", {"spec__secretRef": {"name": "s", "key": "k"}},
         "spec.secretRef.key"),
        (PROVIDER, parse_alert_provider, "AlertProvider", {"spce": {}}, "spce"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_an_unknown_template_or_provider_field_is_refused_with_its_path(
    doc: dict[str, Any], parse: Any, kind: str, changes: dict[str, Any], path: str
) -> None:
    with pytest.raises(ValidationError) as info:
        parse(edited(copy.deepcopy(doc), **changes))
    lines = [f"{p.path}: {p.message}" for p in info.value.problems]
    assert [line for line in lines if line.startswith(path + ": ")] == [
        line for line in lines if f"is not a {kind} field" in line
    ]
    expected = f"{path}: is not a {kind} field (the API server would drop it)"
    assert any(line.startswith(expected) for line in lines)


def test_a_valid_template_and_provider_parse() -> None:
    assert parse_metric_template(TEMPLATE).query == "sum(up)"
    assert parse_alert_provider(PROVIDER).channel == ""
