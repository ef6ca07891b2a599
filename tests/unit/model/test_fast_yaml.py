"""libyaml's parse with ruamel's YAML 1.2 values reads every text as ruamel alone reads it, or steps aside."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from gitflagger.model.fast_yaml import load_fast
from gitflagger.render.yaml import dump_canonical
from tests.unit.render.test_yaml_fast import TRICKY


def ruamel(text: str) -> list[Any]:
    return list(YAML(typ="safe", pure=True).load_all(text))


def same_or_aside(text: str) -> bool:
    """True when libyaml read it (and then exactly as ruamel); False when it left it to ruamel."""
    fast = load_fast(text)
    if fast is None:
        return False
    assert repr(fast) == repr(ruamel(text)), text  # repr: types too (1 and 1.0, True and 1)
    return True


SNIPPETS = [
    "a: 1\nb: '1'\nc: \"1\"\nd: yes\ne: 0755\nf: 0o17\ng: 0x1f\nh: 1e3\ni: 1_000\n",
    "j: .inf\nk: -.5\nl: ~\nm:\n",
    "n: null\no: Null\np: NULL\nq: true\nr: True\ns: FALSE\nt: on\nu: off\nv: y\nw: 2001-12-14\n",
    "x: 2001-12-14t21:59:43.10-05:00\ny: 12:30:00\nz: 190:20:30\naa: +1\nab: -0\nac: 0b101\nad: .NaN\n",
    "lit: |\n  a\n   b\n\n  c\nkeep: |+\n  a\n\nstrip: |-\n  a\nind: |2\n   lead\nfold: >\n  a\n  b\n\n  c\n",
    "plain: a\n  b\n\n  c\nq1: 'it''s\n  folded'\n",
    "q2: \"esc \\/ \\x41 \\u263A \\t \\\\ \\\" \\N \\_ \\L \\P\"\n",
    "anchors:\n  base: &b {x: 1, y: [1, 2]}\n  again: *b\n  list: &l [a, b]\n  more: [*l, *l]\n",
    "flow: {a: [1, {b: c}], 'd': \"e\", f: }\nempty: []\nnone: {}\n# a comment\n",
    "---\na: 1\n---\n---\nb: 2\n...\n",
    "just a scalar\n",
    "- a\n- - b\n  - c\n- {d: e}\n",
    "merge:\n  base: &b {x: 1}\n  derived:\n    <<: *b\n    y: 2\n",  # ruamel's
    "tagged: !!str 3\nother: !!int '4'\n",
    "custom: !thing x\n",
    "dup: 1\ndup: 2\n",
    "%YAML 1.2\n---\na: 1\n",
    "nel: a\x85b\n",
    "a: [\n",
    "? [a, b]\n: c\n",
    "long key " * 5 + ": v\n",
    "key with spaces: value with: colon\nurl: http://x/y?z#w\nhash: a #comment\n",
]


@pytest.mark.parametrize("text", SNIPPETS)
def test_hand_written_yaml_reads_as_ruamel_reads_it_or_goes_to_ruamel(text: str) -> None:
    same_or_aside(text)


def test_most_of_them_are_read_by_libyaml() -> None:
    read = [t for t in SNIPPETS if same_or_aside(t)]
    assert len(read) >= 11, read


def test_what_libyaml_would_read_differently_goes_to_ruamel() -> None:
    for text in ("merge:\n  b: &b {x: 1}\n  d:\n    <<: *b\n", "t: !!int '4'\n", "c: !thing x\n",
                 "d: 1\nd: 2\n", "%YAML 1.2\n---\na: 1\n", "n: a\x85b\n", "a: [\n", "? [a]\n: c\n"):
        assert load_fast(text) is None, text


TEXT = st.one_of(
    st.sampled_from(TRICKY), st.text(max_size=20), st.text(alphabet="ay:#-'\" \t\n,{}[]&*!|>%@`", max_size=8)
)
SCALARS = st.one_of(TEXT, st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(TEXT, VALUES, max_size=5), st.sampled_from([None, True, False]))
def test_generated_yaml_in_every_style_reads_as_ruamel_reads_it(
    obj: dict[str, Any], flow: bool | None
) -> None:
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = flow
    out = io.StringIO()
    writer.dump(obj, out)
    same_or_aside(out.getvalue())
    if obj and all(isinstance(k, str) for k in obj) and not any(isinstance(v, float) for v in obj.values()):
        same_or_aside(dump_canonical(obj))
