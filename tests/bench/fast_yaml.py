"""A prototype of the fix for step throughput's bottleneck: canonical YAML without ruamel's emitter.

Not shipped: ``gitflagger/render/yaml.py`` is the render owner's. This module
exists to measure the fix precisely (``step_throughput`` runs the pipeline
with it swapped in, after checking it is byte-identical to
:func:`gitflagger.render.yaml.dump_canonical` on every manifest of the run).

The idea: ``dump_canonical`` spends ~1.2 ms per manifest in ruamel.yaml's
pure-Python representer, serializer and emitter, for a subset of YAML that is
tiny: block mappings and sequences of str/int/bool/None with fixed
indentation (mapping 2, sequence 4, offset 2). This writer emits that subset
directly and takes each string's style from the same rules the real path
uses: the representer's choice (:func:`_needs_escapes`, multi-line,
:func:`_misread_as_plain`), then ruamel's own ``Emitter.analyze_scalar`` for
whether a plain or single-quoted scalar is allowed. Anything outside the
subset (floats, double-quoted or literal-block strings, nested sequences,
keys that are not short strings) falls back to ruamel for the whole object, so
the output is always the canonical bytes.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ruamel.yaml.emitter import Emitter

from gitflagger.render import yaml as canonical

_EMITTER = Emitter(io.StringIO(), allow_unicode=True)
# A bare emitter is its own serializer; dump_canonical's YAML instance has no version.
_EMITTER.use_version = None  # type: ignore[attr-defined]
_MAX_KEY = 120


class _Fallback(Exception):
    """The object leaves the fast subset: let ruamel write it."""


@lru_cache(maxsize=65_536)
def _scalar(value: str, key: bool) -> str:
    if canonical._needs_escapes(value) or "\n" in value:
        raise _Fallback
    analysis = _EMITTER.analyze_scalar(value)
    if key and (len(value) > _MAX_KEY or analysis.multiline):
        raise _Fallback
    if not canonical._misread_as_plain(value):  # the representer left the style to the emitter
        if analysis.allow_block_plain and not (key and (analysis.empty or analysis.multiline)):
            return value
        if analysis.allow_double_quoted and "'" in value:
            raise _Fallback  # ruamel would double-quote it
    if not analysis.allow_single_quoted or analysis.multiline:
        raise _Fallback
    return "'" + value.replace("'", "''") + "'"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return _scalar(value, False)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return str(value)
    raise _Fallback


def _mapping(obj: Mapping[Any, Any], indent: int, out: list[str], first_prefix: str | None) -> None:
    pad = " " * indent
    for i, (k, v) in enumerate(obj.items()):
        if not isinstance(k, str):
            raise _Fallback
        lead = first_prefix if (i == 0 and first_prefix is not None) else pad
        key = _scalar(k, True)
        if isinstance(v, Mapping):
            if not v:
                out.append(f"{lead}{key}: {{}}\n")
            else:
                out.append(f"{lead}{key}:\n")
                _mapping(v, indent + 2, out, None)
        elif isinstance(v, list):
            if not v:
                out.append(f"{lead}{key}: []\n")
            else:
                out.append(f"{lead}{key}:\n")
                _sequence(v, indent + 2, out)
        else:
            out.append(f"{lead}{key}: {_value(v)}\n")


def _sequence(items: list[Any], indent: int, out: list[str]) -> None:
    dash = " " * indent + "- "
    for item in items:
        if isinstance(item, Mapping):
            if not item:
                out.append(dash + "{}\n")
            else:
                _mapping(item, indent + 2, out, dash)
        elif isinstance(item, list):
            raise _Fallback
        else:
            out.append(dash + _value(item) + "\n")


def dump_fast(obj: Mapping[str, Any]) -> str:
    """The same bytes as :func:`dump_canonical`, faster for the common subset."""
    ordered = canonical.canonical_order(canonical.strip_noise(obj))
    out: list[str] = []
    try:
        if not ordered:
            raise _Fallback
        _mapping(ordered, 0, out, None)
    except _Fallback:
        return canonical.dump_canonical(obj)
    return "".join(out)
