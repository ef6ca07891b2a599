"""Flagger's Istio-shaped Canary blocks, translated to Gateway API: request matches and header filters.

A Canary keeps Flagger's schema whatever the provider, so ``service.match``,
``analysis.match`` and ``service.headers`` are written as Istio blocks
(``uri: {prefix: /api}``, ``headers: {x-user: {exact: alice}}``). Flagger's
Gateway API router translates what has a Gateway API equivalent
(``mapRouteMatches``, ``makeFilters``) and skips the rest without a word; here
every translation also returns the problems, one per field that has no
equivalent, named by its path, so the Canary is refused instead.

* ``uri`` ``exact``/``prefix``/``regex`` → ``path`` ``Exact``/``PathPrefix``/``RegularExpression``;
* ``method.exact`` → ``method``;
* ``headers`` and ``queryParams`` ``exact``/``regex`` → ``Exact``/``RegularExpression``
  matches, sorted by name (Flagger ranges over a Go map, so its order changes
  from one reconcile to the next; ours is stable, so the config repo is too);
* ``headers.request``/``response`` ``add``/``set``/``remove`` →
  ``RequestHeaderModifier``/``ResponseHeaderModifier`` filters, sorted by name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gitflagger.errors import FieldProblem
from gitflagger.model.fields import describe, join

__all__ = ["DEFAULT_MATCH", "header_filters", "route_matches"]

DEFAULT_MATCH: dict[str, Any] = {"path": {"type": "PathPrefix", "value": "/"}}
"""Flagger's match when ``service.match`` is empty: every path."""

_PATH_TYPES = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
_VALUE_TYPES = {"exact": "Exact", "regex": "RegularExpression"}
_MODIFIERS = {"request": "RequestHeaderModifier", "response": "ResponseHeaderModifier"}

Problems = list[FieldProblem]


def route_matches(
    matches: Sequence[Any], path: str, *, keys: frozenset[str] | None = None
) -> tuple[list[dict[str, Any]], Problems]:
    """Istio ``HTTPMatchRequest`` list → Gateway API ``HTTPRouteMatch`` list, and what cannot be translated.

    ``keys`` limits which fields a match may set (an A/B match uses only its
    ``headers`` and ``queryParams``); by default all four translated fields.
    """
    allowed = keys if keys is not None else frozenset({"uri", "method", "headers", "queryParams"})
    out: list[dict[str, Any]] = []
    problems: Problems = []
    for i, match in enumerate(matches):
        here = join(path, i)
        if not isinstance(match, Mapping):
            problems.append(FieldProblem(here, f"must be a mapping, got {describe(match)}"))
            continue
        converted: dict[str, Any] = {}
        for key in sorted(match):
            where = join(here, str(key))
            if key not in allowed:
                problems.append(FieldProblem(where, _unsupported(allowed)))
            elif key == "uri":
                kind, value = _one_of(match[key], _PATH_TYPES, where, problems)
                if kind:
                    converted["path"] = {"type": kind, "value": value}
            elif key == "method":
                kind, value = _one_of(match[key], {"exact": "Exact"}, where, problems)
                if kind:
                    converted["method"] = value
            else:
                named = _named_values(match[key], where, problems)
                if named:
                    converted[key] = named
        if converted:
            out.append(converted)
    return out, problems


def header_filters(headers: Any, path: str) -> tuple[list[dict[str, Any]], Problems]:
    """Istio ``headers`` (``request``/``response``: ``add``/``set``/``remove``) → header filters."""
    if headers is None:
        return [], []
    problems: Problems = []
    filters: list[dict[str, Any]] = []
    for side in sorted(headers):
        where = join(path, str(side))
        if side not in _MODIFIERS:
            problems.append(FieldProblem(where, "Gateway API modifies request and response headers only"))
            continue
        ops = headers[side]
        if not isinstance(ops, Mapping):
            problems.append(FieldProblem(where, f"must be a mapping, got {describe(ops)}"))
            continue
        modifier: dict[str, Any] = {}
        for op in sorted(ops):
            op_path = join(where, str(op))
            value = ops[op]
            if op in ("add", "set") and isinstance(value, Mapping):
                modifier[op] = [{"name": str(n), "value": str(v)} for n, v in sorted(value.items())]
            elif op == "remove" and isinstance(value, list) and all(isinstance(v, str) for v in value):
                modifier[op] = list(value)
            elif op in ("add", "set", "remove"):
                shape = "list of names" if op == "remove" else "mapping"
                problems.append(FieldProblem(op_path, f"must be a {shape}"))
            else:
                problems.append(FieldProblem(op_path, "header modifiers have add, set and remove"))
        if modifier:
            filters.append({"type": _MODIFIERS[side], _lower_first(_MODIFIERS[side]): modifier})
    filters.sort(key=lambda f: list(_MODIFIERS.values()).index(f["type"]))
    return filters, problems


def _one_of(value: Any, types: Mapping[str, str], where: str, problems: Problems) -> tuple[str, str]:
    """The one ``{exact|prefix|regex: text}`` entry of an Istio StringMatch, as (Gateway API type, text)."""
    if not isinstance(value, Mapping) or len(value) != 1:
        problems.append(FieldProblem(where, f"must hold exactly one of {', '.join(types)}"))
        return "", ""
    (key, text), = value.items()
    if key not in types:
        problems.append(FieldProblem(join(where, str(key)), _unsupported(frozenset(types))))
        return "", ""
    if not isinstance(text, str) or not text:
        why = f"must be a non-empty string, got {describe(text)}"
        problems.append(FieldProblem(join(where, str(key)), why))
        return "", ""
    return types[key], text


def _named_values(value: Any, where: str, problems: Problems) -> list[dict[str, Any]]:
    """``{name: {exact|regex: v}}`` → ``[{name, type, value}]`` sorted by name."""
    if not isinstance(value, Mapping):
        problems.append(FieldProblem(where, f"must be a mapping, got {describe(value)}"))
        return []
    out = []
    for name in sorted(value):
        kind, text = _one_of(value[name], _VALUE_TYPES, join(where, str(name)), problems)
        if kind:
            out.append({"name": str(name), "type": kind, "value": text})
    return out


def _unsupported(allowed: frozenset[str]) -> str:
    return f"has no Gateway API equivalent here (supported: {', '.join(sorted(allowed))})"


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
