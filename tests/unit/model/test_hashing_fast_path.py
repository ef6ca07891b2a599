"""The hashing normaliser's fast path for plain dicts and common leaves gives what the general path gives."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gitflagger.model.hashing import normalize, pod_template_hash

keys = st.text(max_size=5) | st.integers(-3, 3) | st.booleans()
finite = st.floats(allow_nan=False, allow_infinity=False)
leaves = st.none() | st.booleans() | st.integers() | finite | st.text(max_size=6)
documents = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)


class Plain(Mapping[Any, Any]):
    """A Mapping that is not a dict: always takes the general path."""

    def __init__(self, data: dict[Any, Any]) -> None:
        self.data = data

    def __getitem__(self, key: Any) -> Any:
        return self.data[key]

    def __iter__(self) -> Any:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def as_general(value: Any) -> Any:
    if isinstance(value, dict):
        return Plain({k: as_general(v) for k, v in value.items()})
    if isinstance(value, list):
        return [as_general(v) for v in value]
    return value


@given(documents)
def test_dicts_normalise_as_any_other_mapping(doc: Any) -> None:
    assert normalize(doc) == normalize(as_general(doc))


def test_the_revision_of_a_known_template_is_unchanged() -> None:
    template = {"metadata": {"labels": {"app": "podinfo"}, "annotations": None},
                "spec": {"containers": [{"name": "podinfod", "image": "podinfo:6.0.0", "ports": [],
                                         "resources": {}}], "replicas": 2.0}}
    assert pod_template_hash(template) == pod_template_hash(OrderedDict(template))
    assert normalize(template) == {
        "metadata": {"labels": {"app": "podinfo"}},
        "spec": {"containers": [{"name": "podinfod", "image": "podinfo:6.0.0"}], "replicas": 2},
    }
