"""Property: whatever a user or the API server hands us, parse_canary answers, never crashes.

Purely random documents rarely get past ``apiVersion``, so the second property
starts from a valid Canary and overwrites or deletes fields at real paths with
random JSON-ish values (including the YAML-only types the safe loader yields),
which drives the parser through every nested reader.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitflagger.errors import ValidationError
from gitflagger.model import Canary, parse_canary
from tests.unit.model.canaries import minimal

FIELD_NAMES = [
    "apiVersion",
    "kind",
    "metadata",
    "name",
    "namespace",
    "labels",
    "spec",
    "targetRef",
    "service",
    "port",
    "analysis",
    "canaryAnalysis",
    "interval",
    "threshold",
    "stepWeight",
    "stepWeights",
    "maxWeight",
    "metrics",
    "thresholdRange",
    "min",
    "max",
    "templateRef",
    "webhooks",
    "url",
    "type",
    "timeout",
    "alerts",
    "severity",
    "providerRef",
    "sessionAffinity",
    "cookieName",
    "match",
    "autoscalerRef",
    "iterations",
    "metadata",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["1m", "0s", "5s", "1x", "http://x.test/", "rollout", "Deployment", "info", "podinfo"])
    | st.binary(max_size=4)
    | st.dates()
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=8) | st.integers(-2, 2)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=25,
)


def full_canary() -> dict[str, Any]:
    doc = minimal()
    doc["metadata"]["labels"] = {"app": "podinfo"}
    doc["spec"]["autoscalerRef"] = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "name": "p",
    }
    doc["spec"]["service"].update(targetPort=9898, gateways=["mesh"], apex={"labels": {"a": "b"}})
    doc["spec"]["analysis"].update(
        interval="1m",
        threshold=5,
        maxWeight=50,
        metrics=[
            {"name": "request-success-rate", "threshold": 99},
            {"name": "custom", "thresholdRange": {"min": 1, "max": 2}, "templateRef": {"name": "t"}},
        ],
        webhooks=[{"name": "load", "url": "http://load.test/", "timeout": "5s", "metadata": {"cmd": "hey"}}],
        alerts=[{"name": "on-call", "severity": "warn", "providerRef": {"name": "slack"}}],
        sessionAffinity={"cookieName": "c", "maxAge": 60},
    )
    return doc


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(paths_of(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(paths_of(v, (*prefix, i)))
    return out


FULL = full_canary()
PATHS = paths_of(FULL)
DELETE = object()


def splice(doc: dict[str, Any], edits: list[tuple[tuple[Any, ...], Any]]) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    for path, value in edits:
        node: Any = out
        for part in path[:-1]:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                break
        else:
            last = path[-1]
            if isinstance(node, dict) and value is DELETE:
                node.pop(last, None)
            elif isinstance(node, dict) or (
                isinstance(node, list) and isinstance(last, int) and last < len(node) and value is not DELETE
            ):
                node[last] = value
    return out


def assert_parses_or_explains(doc: object) -> None:
    try:
        result = parse_canary(doc)
    except ValidationError as err:
        assert err.problems, "a ValidationError always names at least one problem"
        for problem in err.problems:
            assert isinstance(problem.path, str) and problem.path
            assert isinstance(problem.message, str) and problem.message
        assert "\n" not in str(err)
    else:
        assert isinstance(result, Canary)


PROPERTY = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(json_values)
def test_any_json_value_is_a_canary_or_a_validation_error(doc: Any) -> None:
    assert_parses_or_explains(doc)


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(PATHS), json_values | st.just(DELETE)), min_size=1, max_size=4))
def test_any_edit_of_a_valid_canary_is_a_canary_or_a_validation_error(edits: Any) -> None:
    assert_parses_or_explains(splice(FULL, edits))


def test_the_full_canary_is_valid() -> None:
    """The property above starts from a valid document; make sure it is one."""
    canary = parse_canary(FULL)
    assert [m.name for m in canary.spec.analysis.metrics] == ["request-success-rate", "custom"]
    assert canary.spec.analysis.alerts[0].severity == "warn"
