"""Limits on what a document may make gitflagger do: nesting depth and size.

A Canary's Istio blocks (``spec.service.trafficPolicy``, ``retries``...) are
passed through untouched, and the CRD keeps unknown fields there; a file given
to ``gitflagger simulate`` can hold anything YAML can say. Without limits, one
document could stop the controller or exhaust its memory:

* nesting a few hundred levels deep raised ``RecursionError`` in render;
* a YAML alias bomb (``a: &a [x, x]``, ``b: &b [*a, *a]``, ... ) is small as
  text and as the loaded object (aliases are shared references), but every
  walk or copy of it expands each alias again: 2^n values.

So every document is measured once, iteratively (no recursion, whatever the
depth), as it enters: a value nested more than :data:`MAX_DEPTH` levels below
the document's root, or a document larger than :data:`MAX_DOCUMENT_BYTES`
(about its size as JSON, counting each alias as the value it stands for) is
refused with the path where the limit was crossed. The walk stops there, so a
bomb costs at most that many bytes' worth of work.

The limits are far above any real object: a Deployment nests about 15 levels,
and the API server refuses objects above 1.5 MiB (``gitflagger simulate``
accepts larger files, up to the limit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gitflagger.errors import FieldProblem
from gitflagger.model.fields import join

MAX_DEPTH = 64
"""Levels a value may be nested below a document's root (``spec.service.trafficPolicy`` is level 3)."""
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
"""A document's (or a YAML text's) size limit, in bytes (about its size as JSON)."""
_SHOWN = 8
"""Path components shown in a problem (a 600-level path would not be one readable line)."""

_Link = tuple[str | int, "_Link"] | None


def check_bounds(
    doc: object, *, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_DOCUMENT_BYTES
) -> FieldProblem | None:
    """The first limit ``doc`` exceeds, as a problem at the path where it did; ``None`` within limits.

    Examples: ``spec.service.trafficPolicy.a.a.a.a.a...: nests deeper than 64 levels``;
    ``spec.template.spec.affinity.l9[8][8][8]...: the document is larger than 16 MiB ...``.

    A container met again (a YAML alias, a shared reference) counts its size and
    height again without being walked again, so a bomb costs a few steps per alias.
    """
    size = 0
    known: dict[int, tuple[int, int]] = {}
    """Per container already walked (by id): its size and its height (levels below it)."""
    stack: list[tuple[object, int, _Link, int]] = [(doc, 0, None, -1)]
    while stack:
        value, depth, link, started = stack.pop()
        if started >= 0:  # every child of ``value`` is done: remember its size and height
            children = value.values() if isinstance(value, Mapping) else value
            assert isinstance(children, Iterable)
            height = 1 + max((known.get(id(c), (0, 0))[1] for c in children if _container(c)), default=0)
            known[id(value)] = (size - started, height)
            continue
        if not _container(value):
            size += len(value) + 2 if isinstance(value, str) else 8
        elif id(value) in known:
            more, height = known[id(value)]
            size += more
            if depth + height > max_depth:
                return FieldProblem(_path(link) + "...", f"nests deeper than {max_depth} levels")
        elif depth >= max_depth and value:
            return FieldProblem(_path(link), f"nests deeper than {max_depth} levels")
        else:
            stack.append((value, depth, link, size))
            size += 2
            if isinstance(value, Mapping):
                for key, item in value.items():
                    size += len(key) + 4 if isinstance(key, str) else 8
                    stack.append((item, depth + 1, (str(key), link), -1))
            else:
                assert isinstance(value, list | tuple)
                size += len(value)
                stack.extend((item, depth + 1, (i, link), -1) for i, item in enumerate(value))
        if size > max_bytes:
            return FieldProblem(
                _path(link),
                f"the document is larger than {_mib(max_bytes)} (counting each YAML alias as the value it "
                "stands for)",
            )
    return None


def _container(value: object) -> bool:
    return isinstance(value, Mapping | list | tuple)


def _path(link: _Link) -> str:
    parts: list[str | int] = []
    while link is not None:
        key, link = link
        parts.append(key)
    parts.reverse()
    path = ""
    for key in parts[:_SHOWN]:
        path = join(path, key)
    if len(parts) > _SHOWN:
        path += "..."
    return path or "(document)"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB" if size >= 1024 * 1024 else f"{size} bytes"


def subject_of(doc: Mapping[str, Any]) -> str:
    """``"Deployment test/podinfo"`` for an error message; as much as the document says."""
    meta = doc.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    kind, name, ns = (_short(v) for v in (doc.get("kind"), meta.get("name"), meta.get("namespace")))
    where = f"{ns}/{name}" if ns and name else name
    return " ".join(s for s in (kind or "document", where) if s)


def _short(value: object) -> str:
    if not isinstance(value, str):
        return ""
    return value if len(value) <= 100 else value[:97] + "..."


