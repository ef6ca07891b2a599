"""``json_copy``: the same result as ``copy.deepcopy`` on manifest-shaped data, sharing nothing mutable."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitflagger.render.workload import json_copy

leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=30,
)


def mutable_ids(value: Any) -> set[int]:
    if isinstance(value, dict):
        return {id(value)} | {i for v in value.values() for i in mutable_ids(v)}
    if isinstance(value, list):
        return {id(value)} | {i for v in value for i in mutable_ids(v)}
    return set()


@given(documents)
def test_json_copy_equals_deepcopy_and_shares_no_container(doc: Any) -> None:
    copied = json_copy(doc)
    assert copied == copy.deepcopy(doc)
    assert type(copied) is type(doc)
    assert not (mutable_ids(copied) & mutable_ids(doc))


def test_other_types_are_deep_copied_as_deepcopy_would() -> None:
    class Custom:
        def __init__(self) -> None:
            self.items = [1]

    doc = {"a": (1, [2]), "b": Custom()}
    copied = json_copy(doc)
    assert copied["a"] == (1, [2]) and copied["a"][1] is not doc["a"][1]
    assert isinstance(copied["b"], Custom) and copied["b"].items is not doc["b"].items
