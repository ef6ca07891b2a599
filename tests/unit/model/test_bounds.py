"""Depth, size and YAML aliases: each refused with the document's name and the field's path."""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import load_yaml_text, parse_canary
from gitflagger.model.bounds import MAX_DEPTH, MAX_DOCUMENT_BYTES, check_bounds
from tests.unit.model.canaries import minimal


def nested(levels: int) -> dict[str, Any]:
    """``{"a": {"a": ... {"a": 1}}}``, ``levels`` mappings deep, built without recursion."""
    value: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def test_a_600_level_traffic_policy_is_refused_naming_the_canary_and_the_field() -> None:
    doc = minimal()
    doc["spec"]["service"]["trafficPolicy"] = nested(600)

    with pytest.raises(ValidationError) as caught:
        parse_canary(doc)

    assert str(caught.value) == (
        "invalid Canary test/podinfo: spec.service.trafficPolicy.a.a.a.a.a...: nests deeper than 64 levels"
    )


@pytest.mark.parametrize("field", ["trafficPolicy", "retries", "headers", "corsPolicy", "rewrite"])
def test_every_pass_through_block_may_nest_up_to_the_limit_and_no_further(field: str) -> None:
    doc = minimal()
    doc["spec"]["service"][field] = nested(MAX_DEPTH - 3)  # spec.service.<field> is level 3
    parse_canary(doc)
    doc["spec"]["service"][field] = nested(MAX_DEPTH - 2)
    with pytest.raises(ValidationError, match=rf"spec\.service\.{field}\.a\.a.*: nests deeper than 64"):
        parse_canary(doc)


def test_a_deep_list_is_refused_too() -> None:
    value: list[Any] = []
    for _ in range(100):
        value = [value]
    doc = minimal()
    doc["spec"]["service"]["trafficPolicy"] = {"portLevelSettings": value}
    with pytest.raises(ValidationError, match=r"spec\.service\.trafficPolicy\.portLevelSettings\[0\]\[0\]"):
        parse_canary(doc)


def test_a_canary_larger_than_the_limit_is_refused() -> None:
    doc = minimal()
    doc["spec"]["service"]["headers"] = {"request": {"set": {"x": "y" * (MAX_DOCUMENT_BYTES + 1)}}}
    with pytest.raises(ValidationError, match=r"invalid Canary test/podinfo: spec\.service\.headers\.request"
                       r"\.set\.x: the document is larger than 16 MiB"):
        parse_canary(doc)


ALIAS_BOMB = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: test}
spec:
  template:
    spec:
      affinity:
        l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]
        l1: &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]
        l2: &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]
        l3: &l3 [*l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2, *l2]
        l4: &l4 [*l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3, *l3]
        l5: &l5 [*l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4, *l4]
        l6: &l6 [*l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5, *l5]
        l7: &l7 [*l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6, *l6]
        l8: &l8 [*l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7, *l7]
        l9: &l9 [*l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8, *l8]
"""


def test_a_yaml_alias_bomb_in_affinity_is_refused_in_bounded_time_and_memory() -> None:
    """9^10 (3.5 billion) strings once expanded: refused after 16 MiB's worth of them."""
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(ValidationError) as caught:
            load_yaml_text(ALIAS_BOMB, source="bomb.yaml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(
        "invalid Deployment test/podinfo (bomb.yaml, document 1): spec.template.spec.affinity.l"
    )
    assert message.endswith(
        ": the document is larger than 16 MiB (counting each YAML alias as the value it stands for)"
    )
    assert time.process_time() - started < 2  # each alias is counted, not walked again
    assert peak < 64 * 1024 * 1024


def test_aliases_that_expand_to_little_are_accepted() -> None:
    [doc] = load_yaml_text("a: &x {b: 1}\nc: *x\n")
    assert doc == {"a": {"b": 1}, "c": {"b": 1}}


def test_a_recursive_alias_is_refused_as_too_deep() -> None:
    with pytest.raises(ValidationError, match=r"invalid document \(r\.yaml, document 1\): a\[0\]\[0\]"):
        load_yaml_text("a: &x [*x]\n", source="r.yaml")


def test_yaml_nesting_too_deep_for_the_parser_is_one_clear_error() -> None:
    text = "a: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(ValidationError, match=r"invalid YAML: deep\.yaml: nests too deeply to read"):
        load_yaml_text(text, source="deep.yaml")


def test_yaml_nesting_past_the_limit_names_the_document_and_field() -> None:
    text = "kind: ConfigMap\nmetadata: {name: c}\ndata: " + "[" * 70 + "]" * 70 + "\n"
    with pytest.raises(ValidationError, match=r"invalid ConfigMap c \(c\.yaml, document 1\): data\[0\]"):
        load_yaml_text(text, source="c.yaml")


def test_a_yaml_text_larger_than_the_limit_is_refused_before_parsing() -> None:
    text = "a: " + "x" * MAX_DOCUMENT_BYTES + "\n"
    started = time.process_time()
    with pytest.raises(ValidationError, match=r"invalid YAML: big\.yaml: 16,777,220 characters, more than"):
        load_yaml_text(text, source="big.yaml")
    assert time.process_time() - started < 1  # parsing 16 MiB would take many seconds


def test_within_bounds_is_none() -> None:
    assert check_bounds(minimal()) is None
    assert check_bounds(nested(MAX_DEPTH)) is None
    assert check_bounds(nested(MAX_DEPTH + 1)) is not None
