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
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
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
    out: dict[str, Any] = copy.deepcopy(dict(obj))
    out.pop("status", None)
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
    stream = io.StringIO()
    _yaml().dump(canonical_order(strip_noise(obj)), stream)
    return stream.getvalue().rstrip("\n") + "\n"


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


def _needs_escapes(value: str) -> bool:
    """Whether ``value`` has characters that only a double-quoted scalar reproduces exactly.

    Control characters other than tab and newline, a carriage return (block
    scalars normalise line breaks), the Unicode line breaks that YAML 1.1 folds
    (NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR), a byte-order mark, and surrogates.
    """
    for ch in value:
        code = ord(ch)
        if ch in "\t\n":
            continue
        if code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            return True
        if code in (0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF):
            return True
    return False


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
