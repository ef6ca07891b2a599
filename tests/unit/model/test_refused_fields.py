"""Fields Flagger acts on and gitflagger does not are refused by path, all in one error."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary
from gitflagger.model.ledger import CANARY, Implemented, Refused, entry
from gitflagger.model.refused import REFUSED
from tests.unit.deploy.deploy_files import CANARY_CRD, crd, schema
from tests.unit.model.canaries import edited, minimal, problems_of
from tests.unit.model.test_field_ledger import _doc_with, _leaves, ledger_path


def _every_refused() -> tuple[dict[str, Any], list[str]]:
    """A Canary setting every leaf the ledger refuses and each refused value the parser refuses; their paths.

    Derived from :mod:`gitflagger.model.ledger`, so a field added to or moved out of the
    refused list is covered here without an edit.
    """
    doc, leaves = minimal(), []
    for path, sample in _leaves(schema(crd(CANARY_CRD), "v1beta1")["properties"]["spec"]):
        full = ("spec", *path)
        if "canaryAnalysis" in full:
            continue
        e = entry("Canary", ledger_path(full))
        value = sample if isinstance(e, Refused) else getattr(e, "refused_value", None)
        if value is None:
            continue
        _, alone, leaf = _doc_with(full, copy.deepcopy(value))
        if isinstance(e, Implemented):
            try:
                parse_canary(alone)
                continue  # refused later, by the router (spec.provider): not in the parser's error
            except ValidationError:
                pass
        _, doc, _ = _doc_with(full, copy.deepcopy(value), doc)
        leaves.append(leaf)
    return doc, leaves


def test_one_error_names_every_refused_field_on_one_line() -> None:
    doc, leaves = _every_refused()
    refused_in_ledger = [p for p, e in CANARY.items() if isinstance(e, Refused)]
    assert leaves and len(leaves) >= len(refused_in_ledger)  # every refused leaf, and the refused values
    with pytest.raises(ValidationError) as info:
        parse_canary(doc)
    paths = {p.path for p in info.value.problems}

    def owns(problem: str, leaf: str) -> bool:
        return problem == leaf or leaf.startswith((problem + ".", problem + "["))

    assert [leaf for leaf in leaves if not any(owns(p, leaf) for p in paths)] == []
    assert [p for p in paths if not any(owns(p, leaf) for leaf in leaves)] == []
    text = str(info.value)
    assert "\n" not in text
    for path in paths:
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
        spec__analysis__sessionAffinity={
            "cookieName": "c",
            "primaryCookieName": "p",
            "sameSite": "Lax",
            "httpOnly": True,
        },
    )
    spec = parse_canary(doc).spec
    svc = spec.service
    assert (svc.delegation, svc.tcp, svc.headless) == (True, True, True)
    assert svc.traffic_distribution == "PreferClose"
    assert svc.unmanaged_metadata is not None and svc.unmanaged_metadata.annotations == ("owner",)
    assert spec.primary_scaler_replicas is not None
    assert (spec.primary_scaler_replicas.min_replicas, spec.primary_scaler_replicas.max_replicas) == (2, None)
    affinity = spec.analysis.session_affinity
    assert affinity is not None
    assert (affinity.primary_cookie_name, affinity.same_site, affinity.http_only) == ("p", "Lax", True)
