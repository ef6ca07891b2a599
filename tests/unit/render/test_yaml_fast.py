"""The fast canonical-YAML writer gives exactly ruamel.yaml's bytes, or steps aside.

:func:`gitflagger.render.yaml.dump_canonical` writes the subset of YAML it
emits (block mappings and sequences of str/int/bool/None) directly and falls
back to ruamel.yaml for anything else. These tests hold the two paths to the
same bytes on random objects, with strings drawn to hit every quoting rule.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitflagger.render import render
from gitflagger.render import yaml as canonical
from gitflagger.render.yaml import canonical_order, dump_canonical, strip_noise
from tests.unit.render import podinfo

TRICKY = [
    "", " ", "x ", " x", "a  b", "\t", "a\tb", "\ta", "a\t",
    # YAML 1.1 and 1.2 non-strings
    "yes", "Yes", "YES", "no", "No", "on", "On", "off", "OFF", "y", "Y", "n", "N", "true", "True",
    "FALSE", "null", "Null", "NULL", "~", "0", "-0", "+1", "0755", "0o17", "0x1F", "0b101", "1_000",
    "1e3", "1E-3", "-.5", ".5", "5.", ".inf", "-.Inf", ".nan", ".NaN", "12:30:00", "190:20:30",
    "1:20", "2024-01-01", "2001-12-14t21:59:43.10-05:00", "=", "<<", "0.1.2", "v1", "1.21",
    # indicators
    "-", "- x", "-x", "--", "---", "...", "?", "? x", "?x", ":", ": x", "a:", "a: b", "a:b", "a :b",
    "#", "#x", "a#b", "a #b", ",", "a,b", "[", "]", "{", "}", "[a]", "{a: b}", "&a", "*a", "!a", "!!str",
    "|", ">", "'", "''", "it's", '"', 'say "hi"', "%", "%YAML", "@x", "`x`", "a'b'c", "'a", "a'",
    "http://example.com/a?b=c#d", "sha256:abc", "podinfo:6.0.1", "${VAR}", "a=b,c=d", "*",
    # unicode and line breaks
    "ü", "日本語", "\u00a0", "a\u00a0", "\u2028", "\x85", "\ufeff", "a\nb", "a\n", "\n", "a\rb",
    "\x00", "\x7f", "\x1b[0m", "\U0001d11e", "é\u0301", "\ud800",
]

TEXT = st.one_of(st.sampled_from(TRICKY), st.text(max_size=24), st.text(alphabet="ay:#-' \t\n,", max_size=8))
KEYS = st.one_of(
    TEXT,
    st.sampled_from(["apiVersion", "kind", "metadata", "spec", "name", "namespace", "data", "labels"]),
    st.integers(min_value=115, max_value=132).map(lambda n: "k" * n),  # around ruamel's simple-key limit
)
SCALARS = st.one_of(
    TEXT,
    st.text(min_size=250, max_size=400),  # beyond the style cache
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False) | st.just(1.5),  # outside the fast subset
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=6)

# Mostly inside the fast subset (no floats, no control characters), so most examples compare bytes.
PRINTABLE = st.one_of(
    st.sampled_from([t for t in TRICKY if "\n" not in t and not canonical._needs_escapes(t)]),
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=24),
)
FAST_SCALARS = st.one_of(PRINTABLE, st.integers(), st.booleans(), st.none())
FAST_VALUES = st.recursive(
    FAST_SCALARS,
    lambda children: st.lists(
        st.one_of(FAST_SCALARS, st.dictionaries(PRINTABLE, children, max_size=4)), max_size=4
    )
    | st.dictionaries(PRINTABLE, children, max_size=5),
    max_leaves=30,
)


def _paths_agree(obj: dict[str, Any]) -> str | None:
    """The fast writer (which orders keys itself) against ruamel on canonical_order's output."""
    fast = canonical._dump_fast(obj)
    if fast is not None:
        assert fast == canonical._dump_ruamel(canonical_order(obj))
    return fast


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBJECTS)
def test_fast_path_gives_ruamels_bytes(obj: dict[str, Any]) -> None:
    _paths_agree(obj)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(PRINTABLE, KEYS), FAST_VALUES, max_size=6))
def test_fast_path_gives_ruamels_bytes_mostly_inside_the_subset(obj: dict[str, Any]) -> None:
    _paths_agree(obj)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(TEXT, SCALARS), min_size=1, max_size=8))
def test_every_scalar_as_key_value_and_list_item(pairs: list[tuple[str, Any]]) -> None:
    _paths_agree({"m": dict(pairs), "l": [v for _, v in pairs], "items": [{k: v} for k, v in pairs]})


def test_every_tricky_string_in_every_position() -> None:
    for text in TRICKY:
        obj: dict[str, Any] = {text: text, "v": {"k": text}, "l": [text, {text: [text]}], "x": 1}
        _paths_agree(obj)


def test_rendered_manifests_take_the_fast_path() -> None:
    """Every manifest the render stage emits is inside the fast subset (else the speed-up is gone)."""
    for manifest in render(podinfo.canary(), podinfo.inputs(), podinfo.decision(promote=True)):
        obj = manifest.obj
        stripped = strip_noise(obj)
        fast = canonical._dump_fast(stripped)
        assert fast is not None, obj.get("kind")
        assert fast == canonical._dump_ruamel(canonical_order(stripped)) == dump_canonical(obj)


def test_leading_keys_and_other_container_types() -> None:
    from collections import OrderedDict

    obj: dict[str, Any] = {
        "zeta": 1, "spec": {"b": 1, "a": (1, 2)}, "metadata": {"z": 1, "namespace": "ns", "name": "x"},
        "kind": "K", "apiVersion": "v1", "list": [{"z": 1, "name": "a", "metadata": {"b": 1, "name": 2}}],
        "nested": {"metadata": {"z": 1, "name": "n"}},
    }
    fast = _paths_agree(obj)
    assert fast is None  # the tuple leaves the subset
    obj["spec"]["a"] = [1, 2]
    fast = _paths_agree(obj)
    assert fast is not None
    assert fast.startswith("apiVersion: v1\nkind: K\nmetadata:\n  name: x\n  namespace: ns\n  z: 1\nspec:\n")
    proxied = {**obj, "spec": OrderedDict(b=1, a=[2])}
    assert canonical._dump_fast(proxied) is None
    assert dump_canonical(proxied) == canonical._dump_ruamel(canonical_order(strip_noise(proxied)))


def test_outside_the_subset_falls_back() -> None:
    for obj in ({"a": 1.5}, {"a": [[1]]}, {"a": "x\ny\r"}, {"a": "\x00"}, {1: "a"}, {}, {"k" * 130: 1}):
        assert canonical._dump_fast(obj) is None  # type: ignore[arg-type]
        assert dump_canonical(obj) == canonical._dump_ruamel(canonical_order(obj))  # type: ignore[arg-type]


NOISY = st.fixed_dictionaries(
    {
        "apiVersion": st.just("apps/v1"),
        "kind": st.just("Deployment"),
        "metadata": st.fixed_dictionaries(
            {"name": st.just("podinfo")},
            optional={
                "namespace": st.just("test"),
                "uid": st.just("1234"),
                "resourceVersion": st.just("42"),
                "generation": st.integers(0, 9),
                "managedFields": st.lists(st.dictionaries(TEXT, TEXT, max_size=2), max_size=2),
                "creationTimestamp": st.none() | st.just("2024-01-01T00:00:00Z"),
                "selfLink": st.just("/x"),
                "labels": st.dictionaries(TEXT, TEXT, max_size=3),
                "annotations": st.dictionaries(
                    st.sampled_from([*canonical.NOISE_ANNOTATIONS, "a", "b/c"]), TEXT, max_size=3
                ),
            },
        ),
        "spec": st.one_of(
            st.fixed_dictionaries(
                {
                    "template": st.one_of(
                        st.fixed_dictionaries(
                            {"metadata": st.dictionaries(
                                st.sampled_from(["creationTimestamp", "labels", "name"]),
                                st.none() | TEXT, max_size=3,
                            )},
                            optional={"spec": VALUES},
                        ),
                        VALUES,
                    )
                },
                optional={"replicas": st.integers(0, 5)},
            ),
            VALUES,
        ),
    },
    optional={"status": VALUES, "data": st.dictionaries(TEXT, TEXT, max_size=3)},
)


@settings(max_examples=500, deadline=None)
@given(NOISY)
def test_one_pass_strip_and_order_matches_the_two_passes(obj: dict[str, Any]) -> None:
    before = repr(obj)
    one = canonical_order(canonical._stripped(obj))
    two = canonical_order(strip_noise(obj))
    assert one == two
    assert list(one) == list(two)
    assert repr(one) == repr(two)  # key order at every level, not just equality
    assert repr(obj) == before  # the input is never modified
    assert dump_canonical(obj) == canonical._dump_ruamel(two)


def _strip_noise_with_deepcopy(obj: dict[str, Any]) -> dict[str, Any]:
    """strip_noise as it was written first: deepcopy everything, then drop the noise."""
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in canonical.NOISE_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in canonical.NOISE_ANNOTATIONS:
                annotations.pop(key, None)
            if not annotations:
                del meta["annotations"]
    spec = out.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    template_meta = template.get("metadata") if isinstance(template, dict) else None
    if isinstance(template_meta, dict) and template_meta.get("creationTimestamp", 0) is None:
        del template_meta["creationTimestamp"]
    return out


def _containers(value: Any) -> list[int]:
    if isinstance(value, dict):
        return [id(value), *(i for v in value.values() for i in _containers(v))]
    if isinstance(value, list):
        return [id(value), *(i for v in value for i in _containers(v))]
    return []


@settings(max_examples=300, deadline=None)
@given(NOISY)
def test_strip_noise_copies_like_deepcopy_did(obj: dict[str, Any]) -> None:
    before = repr(obj)
    stripped = strip_noise(obj)
    assert repr(stripped) == repr(_strip_noise_with_deepcopy(obj))
    assert repr(obj) == before
    assert not set(_containers(stripped)) & set(_containers(obj))  # nothing shared with the input


MULTILINE = [
    "a\nb", "a\n", "\n", "\n\n", "a\n\n", "a\n\n\n", " a\nb", "\na", "a\n\nb", "a\n\nb\n", "a \n b \n",
    "  \n", "#x\n- y\n", "key: v\n---\n...\n", "\t\na", "ü\n日本語", "x" * 300 + "\n" + "y" * 300,
]


def test_multi_line_strings_are_literal_blocks_with_ruamels_bytes_in_every_position() -> None:
    for text in MULTILINE:
        for obj in (
            {"a": text},
            {"a": {"b": text}, "c": 1},
            {"a": [text, {"b": text, "c": [text]}]},
            {"z": {"b": text}},  # the last scalar of the document
            {"z": [text]},
        ):
            fast = canonical._dump_fast(obj)
            assert fast is not None, (text, obj)
            assert fast == canonical._dump_ruamel(canonical_order(obj)), (text, obj)


def test_a_megabyte_long_multi_line_value_stays_on_the_fast_path() -> None:
    text = "".join(f"line {i}: {'x' * 60}\n" for i in range(15_000))
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"file": text}}
    fast = canonical._dump_fast(obj)
    assert fast is not None
    assert fast == canonical._dump_ruamel(canonical_order(obj))


@settings(max_examples=2000, deadline=None)
@given(st.from_regex(r"[A-Za-z][A-Za-z0-9_./-]{0,12}", fullmatch=True) | st.sampled_from(TRICKY))
def test_plain_words_skip_the_style_analysis_and_get_the_same_style(value: str) -> None:
    for key in (False, True):
        try:
            expected: str | None = canonical._scalar_style(value, key)
        except canonical._Fallback:
            expected = None
        try:
            got: str | None = canonical._scalar(value, key)
        except canonical._Fallback:
            got = None
        assert got == expected
