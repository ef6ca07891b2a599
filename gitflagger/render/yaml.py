"""Canonical YAML: the same object always gives the same bytes.

The config repo records one commit per rollout step, and a reviewer reads those
commits as diffs. So the serialisation must never move a line that did not
change: key order is fixed (``apiVersion``, ``kind``, ``metadata``, ``spec``,
then the rest sorted; ``name`` and ``namespace`` lead ``metadata``; every other
mapping is sorted), block style throughout, no document markers, no line
folding, and exactly one trailing newline.

Strings are quoted only when a plain scalar would be read back as something
else. That check covers YAML 1.2 (what ruamel.yaml speaks) *and* YAML 1.1,
because the Go tooling that reads these files (``sigs.k8s.io/yaml`` in kubectl,
Flux and Argo CD) still resolves ``yes``, ``on``, ``y`` or ``0755`` as booleans
and numbers. Multi-line strings use literal block style (``|``) so a ConfigMap's
embedded file diffs line by line.

Noise that the apiserver adds (``status``, ``managedFields``,
``resourceVersion``...) is dropped first, so a manifest read back from the
cluster and a freshly rendered one serialise identically.

Speed: ruamel.yaml's pure-Python representer, serializer and emitter cost about
1.2 ms per manifest, most of a rollout step's time. What we emit is a tiny
subset of YAML (block mappings and sequences of str/int/bool/None, literal
blocks for multi-line strings, fixed indentation), so :func:`dump_canonical`
writes that subset directly (tens of µs; linear in the size of a large
manifest) and hands anything else (floats, other scalar types, nested
sequences, strings that need double quotes, single-line strings over 100,000
characters, long or odd keys) to ruamel for the whole object. Quoting follows the same rules either way: the
representer's choice below, then ruamel's own ``Emitter.analyze_scalar`` for
whether a plain or single-quoted scalar is allowed; the bytes are identical
(``tests/unit/render/test_yaml_fast.py`` compares both paths).
"""

from __future__ import annotations

import copy
import io
import re
import threading
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver

__all__ = ["NOISE_ANNOTATIONS", "NOISE_METADATA", "canonical_order", "dump_canonical", "strip_noise"]

NOISE_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
)
"""``metadata`` fields the apiserver owns; they change on every write and mean nothing in git."""

NOISE_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)
"""Annotations written by kubectl and the Deployment controller, not by the object's author."""

_LEADING_KEYS = ("apiVersion", "kind", "metadata", "spec")
_LEADING_METADATA_KEYS = ("name", "namespace")

_STR = "tag:yaml.org,2002:str"
_YAML11 = VersionedResolver(version=(1, 1))
_YAML12 = VersionedResolver(version=(1, 2))


def strip_noise(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``obj`` without server-side noise; the input is never modified.

    Drops ``status``; ``metadata.managedFields``, ``resourceVersion``, ``uid``,
    ``creationTimestamp``, ``generation`` and ``selfLink``; the kubectl
    last-applied and Deployment revision annotations (and ``annotations``
    itself when nothing else is left); and the ``creationTimestamp: null``
    that clients write into a pod template's metadata.
    """
    out: dict[str, Any] = {
        k: _copy_metadata(v) if k == "metadata" else _copy(v) for k, v in obj.items() if k != "status"
    }
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in NOISE_METADATA:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for key in NOISE_ANNOTATIONS:
                annotations.pop(key, None)
            if not annotations:
                del meta["annotations"]
    spec = out.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    template_meta = template.get("metadata") if isinstance(template, dict) else None
    if isinstance(template_meta, dict) and template_meta.get("creationTimestamp", 0) is None:
        del template_meta["creationTimestamp"]
    return out


_ATOMS = frozenset({str, int, float, bool, type(None)})


def _copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data: plain dicts and lists rebuilt, immutable scalars shared.

    Several times faster than :func:`copy.deepcopy`, which remains the copy of
    anything else (dict subclasses included). Unlike it, two references to one
    container come out as two copies, never one.
    """
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


def _copy_metadata(meta: Any) -> Any:
    """``metadata`` copied without the server-owned fields (``managedFields`` can be most of an object)."""
    if type(meta) is not dict:
        return _copy(meta)
    return {k: _copy(v) for k, v in meta.items() if k not in NOISE_METADATA}


def canonical_order(obj: Any, *, _depth: int = 0, _parent: str = "") -> Any:
    """``obj`` rebuilt with keys in canonical order: plain dicts and lists, scalars untouched."""
    if isinstance(obj, Mapping):
        if _depth == 0:
            keys = _ordered(obj, _LEADING_KEYS)
        elif _depth == 1 and _parent == "metadata":
            keys = _ordered(obj, _LEADING_METADATA_KEYS)
        else:
            keys = sorted(obj, key=str)
        return {k: canonical_order(obj[k], _depth=_depth + 1, _parent=str(k)) for k in keys}
    if isinstance(obj, list | tuple):
        # List items are objects of their own (containers, ports): they start a new depth.
        return [canonical_order(item, _depth=2) for item in obj]
    return obj


def dump_canonical(obj: Mapping[str, Any]) -> str:
    """Canonical YAML of one Kubernetes object, noise stripped, ending in exactly one newline."""
    stripped = _stripped(obj)
    fast = _dump_fast(stripped)
    return fast if fast is not None else _dump_ruamel(canonical_order(stripped))


def _dump_ruamel(ordered: Mapping[str, Any]) -> str:
    """The reference serialisation of an already stripped and ordered object: ruamel.yaml."""
    stream = io.StringIO()
    _yaml().dump(ordered, stream)
    return stream.getvalue().rstrip("\n") + "\n"


def _stripped(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` without the noise :func:`strip_noise` drops, copying only the containers that lose some.

    The rest is shared with ``obj``, never modified: the writers below (and
    :func:`canonical_order`) only read it.
    """
    top = dict(obj)
    top.pop("status", None)
    meta = top.get("metadata")
    if isinstance(meta, dict):
        meta = {k: v for k, v in meta.items() if k not in NOISE_METADATA}
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations = {k: v for k, v in annotations.items() if k not in NOISE_ANNOTATIONS}
            if annotations:
                meta["annotations"] = annotations
            else:
                del meta["annotations"]
        top["metadata"] = meta
    spec = top.get("spec")
    template = spec.get("template") if isinstance(spec, dict) else None
    template_meta = template.get("metadata") if isinstance(template, dict) else None
    if isinstance(template_meta, dict) and template_meta.get("creationTimestamp", 0) is None:
        assert isinstance(spec, dict) and isinstance(template, dict)  # for mypy: checked above
        template_meta = {k: v for k, v in template_meta.items() if k != "creationTimestamp"}
        top["spec"] = {**spec, "template": {**template, "metadata": template_meta}}
    return top


def _ordered(obj: Mapping[Any, Any], leading: tuple[str, ...]) -> list[Any]:
    first = [k for k in leading if k in obj]
    return first + sorted((k for k in obj if k not in leading), key=str)


class _CanonicalRepresenter(RoundTripRepresenter):
    """Quotes strings that YAML 1.1 or 1.2 would misread; literal style for multi-line text."""

    def represent_str(self, data: str) -> ScalarNode:
        style: str | None = None
        if _needs_escapes(data):
            style = '"'  # only double quotes can carry control characters and odd line breaks intact
        elif "\n" in data:
            style = "|"  # the emitter falls back to double quotes when a block scalar cannot hold it
        elif _misread_as_plain(data):
            style = "'"
        node: ScalarNode = self.represent_scalar(_STR, data, style=style)
        return node

    def represent_none(self, data: None) -> ScalarNode:
        node: ScalarNode = self.represent_scalar("tag:yaml.org,2002:null", "null")
        return node


_CanonicalRepresenter.add_representer(str, _CanonicalRepresenter.represent_str)
_CanonicalRepresenter.add_representer(type(None), _CanonicalRepresenter.represent_none)


_ESCAPES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\ufeff\ufffe\uffff]")


def _needs_escapes(value: str) -> bool:
    """Whether ``value`` has characters that only a double-quoted scalar reproduces exactly.

    Control characters other than tab and newline, a carriage return (block
    scalars normalise line breaks), the Unicode line breaks that YAML 1.1 folds
    (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR), a byte-order mark, and surrogates.
    One regular expression: a per-character loop cost seconds on a megabyte-long value.
    """
    return _ESCAPES.search(value) is not None


def _misread_as_plain(value: str) -> bool:
    """Whether a plain (unquoted) scalar ``value`` would resolve to a non-string in YAML 1.1 or 1.2."""
    return any(r.resolve(ScalarNode, value, (True, False)) != _STR for r in (_YAML11, _YAML12))


_PER_THREAD = threading.local()


def _yaml() -> YAML:
    # One instance per thread: ruamel.yaml's YAML objects are not safe to share across threads,
    # and building one per dump cost about a quarter of a small manifest's dump time.
    yaml: YAML | None = getattr(_PER_THREAD, "yaml", None)
    if yaml is None:
        yaml = _PER_THREAD.yaml = _new_yaml()
    return yaml


def _new_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Representer = _CanonicalRepresenter
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 1_000_000  # never fold long strings: a folded line diffs as two changed lines
    yaml.explicit_start = False
    yaml.explicit_end = False
    yaml.allow_unicode = True
    return yaml


# The fast path: the subset dump_canonical emits, written directly.

_EMITTER = Emitter(io.StringIO(), allow_unicode=True)
# A bare emitter is its own serializer; analyze_scalar reads use_version (the YAML instance has none).
_EMITTER.use_version = None  # type: ignore[attr-defined]
_MAX_KEY = 120
"""Longer keys go to ruamel: it writes a key of 128 characters or more (tag included) as ``? key``."""
_MAX_SCALAR = 100_000
"""Longer strings go to ruamel: it folds a line at its width (1,000,000 columns)."""
_CACHED = 256
"""Styles of strings up to this length are cached (names, labels, images repeat on every step)."""


class _Fallback(Exception):
    """The object leaves the fast subset: ruamel writes it."""


_PLAIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_./-]*")
"""Strings that are plain scalars whatever else holds: a letter, then letters, digits and ``_./-``.

Nothing in them is a YAML indicator, a space or a line break (so ``analyze_scalar`` allows
plain style), and the only ones YAML 1.1 or 1.2 resolve to something else are the words in
:data:`_NOT_STRINGS` (numbers, timestamps, ``.inf`` and ``.nan`` start otherwise). Checked
before the style cache: a manifest with more distinct names than the cache holds (thousands
of ``env`` entries) spent most of its time in ``analyze_scalar``."""
_NOT_STRINGS = frozenset(
    w
    for word in ("y", "yes", "n", "no", "true", "false", "on", "off", "null")
    for w in (word, word.capitalize(), word.upper())
)


def _scalar(value: str, key: bool) -> str:
    """``value`` as ruamel writes it: plain or single-quoted; :class:`_Fallback` for anything else."""
    if (
        len(value) <= _MAX_KEY
        and _PLAIN_WORD.fullmatch(value) is not None
        and value not in _NOT_STRINGS
    ):
        return value
    if len(value) <= _CACHED:
        return _scalar_cached(value, key)
    if len(value) > _MAX_SCALAR or key:
        raise _Fallback
    return _scalar_style(value, key)


def _scalar_style(value: str, key: bool) -> str:
    if _needs_escapes(value) or "\n" in value:
        raise _Fallback  # double-quoted or literal block: ruamel's
    analysis = _EMITTER.analyze_scalar(value)
    if key and (len(value) > _MAX_KEY or analysis.multiline):
        raise _Fallback
    if not _misread_as_plain(value):  # the representer leaves the style to the emitter
        if analysis.allow_block_plain and not (key and (analysis.empty or analysis.multiline)):
            return value
        if analysis.allow_double_quoted and "'" in value:
            raise _Fallback  # the emitter double-quotes it
    if not analysis.allow_single_quoted or analysis.multiline:
        raise _Fallback
    return "'" + value.replace("'", "''") + "'"


_scalar_cached = lru_cache(maxsize=16_384)(_scalar_style)


def _literal(value: str, indent: int, out: _Out) -> str:
    """A multi-line string as ruamel writes it: ``|`` and its hints, then each line at ``indent``.

    The representer asks for literal style whenever a string holds a newline and
    no character that needs escaping, and outside flow context the emitter
    always grants it. Its hints (``Emitter.determine_block_hints``): ``2`` when
    the text starts with a space or a newline, ``-`` without a final newline,
    ``+`` with more than one. Empty lines carry no indentation. Written with
    ``str.split`` and ``join``: linear, where ruamel's writer steps through every
    character in Python (about two seconds per megabyte).
    """
    if _needs_escapes(value):
        raise _Fallback  # double-quoted: ruamel's
    hints = "2" if value[0] in " \n" else ""
    if value[-1] != "\n":
        hints += "-"
    elif len(value) == 1 or value[-2] == "\n":
        hints += "+"
        out.kept_at = len(out)  # the index this block's chunk is appended at
    pad = " " * indent
    lines = (value[:-1] if value[-1] == "\n" else value).split("\n")
    return f"|{hints}\n" + "".join(f"{pad}{line}\n" if line else "\n" for line in lines)


def _value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _scalar(value, False)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if kind is int:
        return str(value)
    raise _Fallback  # floats, str or int subclasses (enums), anything else: ruamel's representers


_TOP, _METADATA, _SORTED = 0, 1, 2
"""Key orders, as :func:`canonical_order` chooses them: the object's, its metadata's, any other mapping's."""


def _keys(obj: dict[Any, Any], order: int) -> list[Any]:
    try:
        if order == _SORTED:
            return sorted(obj)  # all keys must be str (else _Fallback below): the same as key=str
        leading = _LEADING_KEYS if order == _TOP else _LEADING_METADATA_KEYS
        return [k for k in leading if k in obj] + sorted(k for k in obj if k not in leading)
    except TypeError:  # keys of several types
        raise _Fallback from None


class _Out(list[str]):
    """The chunks written so far, and where the last ``|+`` literal block is among them.

    A document whose last scalar is a ``|+`` block (its trailing empty lines are
    content) ends with ``...`` in ruamel's output: without it a reader could not
    tell where the kept lines end.
    """

    kept_at = -1


def _mapping(obj: dict[Any, Any], order: int, indent: int, out: _Out, first_prefix: str | None) -> None:
    """Write ``obj`` with its keys in canonical order (the caller checked it is a non-empty dict)."""
    pad = " " * indent
    lead = pad if first_prefix is None else first_prefix
    for k in _keys(obj, order):
        if type(k) is not str:
            raise _Fallback
        v = obj[k]
        key = _scalar(k, True)
        kind = type(v)
        if kind is dict:
            if v:
                out.append(f"{lead}{key}:\n")
                inner = _METADATA if order == _TOP and k == "metadata" else _SORTED
                _mapping(v, inner, indent + 2, out, None)
            else:
                out.append(f"{lead}{key}: {{}}\n")
        elif kind is list:
            if v:
                out.append(f"{lead}{key}:\n")
                _sequence(v, indent + 2, out)
            else:
                out.append(f"{lead}{key}: []\n")
        elif kind is str and "\n" in v:
            out.append(f"{lead}{key}: {_literal(v, indent + 2, out)}")
        else:
            out.append(f"{lead}{key}: {_value(v)}\n")
        lead = pad


def _sequence(items: list[Any], indent: int, out: _Out) -> None:
    dash = " " * indent + "- "
    for item in items:
        kind = type(item)
        if kind is dict:
            if item:
                _mapping(item, _SORTED, indent + 2, out, dash)  # list items start a new depth: sorted
            else:
                out.append(dash + "{}\n")
        elif kind is list:
            raise _Fallback  # a sequence in a sequence: ruamel's layout
        elif kind is str and "\n" in item:
            out.append(dash + _literal(item, indent + 2, out))
        else:
            out.append(dash + _value(item) + "\n")


def _dump_fast(obj: Mapping[str, Any]) -> str | None:
    """The canonical YAML of a stripped object, ordered on the fly; ``None`` when it leaves the subset.

    Only plain dicts, lists and the scalars of :func:`_value`: any other type
    (a tuple, another Mapping, a float...) leaves it to ruamel, which writes
    what :func:`canonical_order` makes of it.
    """
    if type(obj) is not dict or not obj:
        return None
    out = _Out()
    try:
        _mapping(obj, _TOP, 0, out, None)
    except _Fallback:
        return None
    if out.kept_at == len(out) - 1:
        out.append("...\n")
    return "".join(out)
