"""Large YAML texts read by libyaml's C parser, every value resolved by ruamel.yaml's own YAML 1.2 rules.

ruamel.yaml (what gitflagger reads YAML with) has no C extension here, and its
pure-Python scanner reads block YAML at about 2.5 s of CPU per megabyte: a
5 MB Deployment took longer to read than to simulate. libyaml (through
PyYAML, which the Kubernetes client already depends on) parses the same text
a hundred times faster, but resolves plain scalars by YAML 1.1 (``yes`` is a
boolean there, ``0755`` an octal number). So only its parse is used:

* the composer marks each untagged plain scalar, and that scalar's value is
  resolved and constructed by ruamel's YAML 1.2 resolver and safe constructor,
  exactly as a ruamel load would (once per distinct text);
* quoted and block scalars are strings, as in any YAML version;
* anything this does not reproduce exactly goes to ruamel for the whole text,
  which then reads it or reports it as before: explicit tags other than
  ``!!str``, merge keys (``<<``), duplicate or unhashable keys, the line breaks
  YAML 1.1 has and 1.2 does not (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR), a
  byte-order mark, directives, and any parse error (ruamel's message names the
  line and column).

Aliases stay shared references, as ruamel constructs them, so the document
bounds (:mod:`.bounds`) measure them the same way. ``tests/unit/model/test_fast_yaml.py``
holds both readers to the same values on generated and hand-written YAML.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.nodes import ScalarNode as RuamelScalar
from ruamel.yaml.resolver import VersionedResolver

try:
    import yaml as _pyyaml  # type: ignore[import-untyped]

    _BASE: Any = _pyyaml.CBaseLoader if getattr(_pyyaml, "__with_libyaml__", False) else None
except ImportError:  # pragma: no cover - PyYAML comes with the Kubernetes client
    _pyyaml = None
    _BASE = None

FAST_ABOVE = 64 * 1024
"""Texts at least this long are read by libyaml; shorter ones by ruamel alone (fast enough)."""

_PLAIN = "!gitflagger/plain"
_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_YAML11_ONLY = re.compile("[\x85\u2028\u2029\ufeff]|^%", re.MULTILINE)
_R12 = VersionedResolver(version=(1, 2))
_SCALAR_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")
)


class _Unsupported(Exception):
    """Something ruamel must read itself."""


if _BASE is not None:

    class _Composer(_BASE):  # type: ignore[misc]
        """libyaml's parser and composer; untagged plain scalars are marked for ruamel to resolve."""

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is _pyyaml.ScalarNode:
                return _PLAIN if implicit[0] else _STR
            return _SEQ if kind is _pyyaml.SequenceNode else _MAP


def load_fast(text: str) -> list[Any] | None:
    """Every document of ``text`` as ruamel's safe loader reads it; ``None``: let ruamel read it."""
    if _BASE is None or _YAML11_ONLY.search(text):
        return None
    try:
        nodes = list(_pyyaml.compose_all(text, Loader=_Composer))
    except (_pyyaml.YAMLError, RecursionError):
        return None
    builder = _Builder()
    try:
        return [builder.build(node) if node is not None else None for node in nodes]
    except (_Unsupported, RecursionError):
        return None


class _Builder:
    def __init__(self) -> None:
        self._built: dict[int, Any] = {}
        """Per node (by id): its value, so an alias is the same object, as ruamel constructs it."""
        self._scalars: dict[str, Any] = {}
        self._constructor = YAML(typ="safe", pure=True).constructor

    def build(self, node: Any) -> Any:
        done = self._built.get(id(node))
        if done is not None or id(node) in self._built:
            return done
        if isinstance(node, _pyyaml.ScalarNode):
            value = self._scalar(node)
        elif isinstance(node, _pyyaml.SequenceNode) and node.tag == _SEQ:
            value = []
            self._built[id(node)] = value
            value.extend(self.build(item) for item in node.value)
        elif isinstance(node, _pyyaml.MappingNode) and node.tag == _MAP:
            value = {}
            self._built[id(node)] = value
            for key_node, item_node in node.value:
                if key_node.tag == _PLAIN and key_node.value == "<<":
                    raise _Unsupported  # a merge key
                key = self.build(key_node)
                if not isinstance(key, Hashable) or key in value:
                    raise _Unsupported  # ruamel reports these
                value[key] = self.build(item_node)
        else:
            raise _Unsupported  # an explicit tag
        self._built[id(node)] = value
        return value

    def _scalar(self, node: Any) -> Any:
        if node.tag == _STR:
            return node.value
        if node.tag != _PLAIN:
            raise _Unsupported
        text = node.value
        if text in self._scalars:
            return self._scalars[text]
        tag = _R12.resolve(RuamelScalar, text, (True, False))
        if tag == _STR:
            value: Any = text
        elif str(tag) in _SCALAR_TAGS:
            value = self._constructor.construct_object(RuamelScalar(tag, text), deep=True)
        else:
            raise _Unsupported  # "=", "<<" and anything else ruamel resolves specially
        self._scalars[text] = value
        return value
