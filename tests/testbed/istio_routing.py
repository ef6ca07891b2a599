"""Istio's HTTP routing rules, as the mesh simulator applies them to each simulated request.

Pure: no I/O, no clock, no randomness. The caller supplies the request and
the two "tickets" that pick a weighted destination and decide a mirror, so
the same inputs always route the same way. The rules are those of the
VirtualService reference (istio.io/latest/docs/reference/config/networking/virtual-service/):

- ``VirtualService.http``: the routes are tried in order and the first one
  that matches the request wins;
- ``HTTPRoute.match``: the conditions inside one match block must all hold
  (AND); the route matches when any one block does (OR); a route without
  match blocks matches every request;
- ``HTTPMatchRequest``: ``uri``, ``method``, ``authority``, ``scheme``,
  ``headers``, ``withoutHeaders``, ``queryParams`` and ``ignoreUriCase``.
  Header names are case-insensitive, as in HTTP (Istio asks for lowercase
  keys in the config; Flagger writes ``Cookie``); an empty ``StringMatch``
  only asks that the header be present;
- ``StringMatch``: ``exact``, ``prefix`` or ``regex``; values are
  case-sensitive; a regex (RE2 in Envoy, Python's ``re`` here, which agrees
  on the patterns Flagger writes) must match the whole value;
- ``HTTPRouteDestination.weight``: the share of the route's traffic; a lone
  destination takes all of it;
- ``HTTPRoute.mirror`` / ``mirrorPercentage``: a copy of the request goes to
  the mirror (all requests when no percentage is given); its answer is
  dropped;
- ``Headers.response`` (``set``/``add``/``remove``) on the route and on the
  chosen destination: applied to the answer the client gets; this is how
  Flagger's session affinity hands out its ``Set-Cookie``.

Anything that would change where a request goes and that the simulator cannot
model (``sourceLabels``, ``gateways``, ``port``, ``sourceNamespace``,
``redirect``, ``delegate``, ``fault``, ``directResponse``, ``mirrors``, a
destination ``subset``) is refused with :class:`UnsupportedRoute` naming its
path, never skipped. Fields that shape a request without changing its
destination (``rewrite``, ``timeout``, ``retries``, ``corsPolicy``,
``headers.request``) are accepted and have no effect here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

__all__ = [
    "HeaderOps",
    "HttpRoute",
    "Request",
    "Routed",
    "Target",
    "UnsupportedRoute",
    "first_route",
    "match_block",
    "parse_http",
    "pick",
    "route_request",
    "string_match",
]

_MATCH_KEYS = frozenset({
    "name", "uri", "method", "authority", "scheme", "headers", "withoutHeaders", "queryParams",
    "ignoreUriCase",
})
_MATCH_REFUSED = {
    "sourceLabels": "depends on the calling workload's labels, and the simulator has one caller",
    "gateways": "depends on which gateway the request came through",
    "port": "depends on the port the caller used",
    "sourceNamespace": "depends on the calling workload's namespace",
    "statPrefix": "is not modelled",
}
_ROUTE_INERT = frozenset({"name", "rewrite", "timeout", "retries", "corsPolicy"})
_ROUTE_REFUSED = {
    "redirect": "answers without routing",
    "delegate": "routes through another VirtualService",
    "fault": "injects faults the simulator does not model",
    "directResponse": "answers without routing",
    "mirrors": "(several mirrors) is not modelled; use mirror",
    "mirror_percent": "is deprecated; use mirrorPercentage",
    "mirrorPercent": "is deprecated; use mirrorPercentage",
}
_STRING_MATCH = ("exact", "prefix", "regex")


class UnsupportedRoute(ValueError):
    """A VirtualService field the simulator cannot route by; the message names its path."""


@dataclass(frozen=True)
class Request:
    """One simulated request: what a match block can look at."""

    path: str = "/"
    method: str = "GET"
    authority: str = ""
    scheme: str = "http"
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        """The header's value (repeats joined by ``,``), or None; names compare case-insensitively."""
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    def query(self) -> dict[str, str]:
        _, _, query = self.path.partition("?")
        return dict(parse_qsl(query, keep_blank_values=True))

    def uri(self) -> str:
        return self.path.partition("?")[0]


@dataclass(frozen=True)
class HeaderOps:
    """``Headers.response``: what is set, added and removed on the way back to the client."""

    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()

    def apply(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = [(k, v) for k, v in headers if k.lower() not in {r.lower() for r in self.remove}]
        for name, value in self.set:
            out = [(k, v) for k, v in out if k.lower() != name.lower()] + [(name, value)]
        return out + list(self.add)


@dataclass(frozen=True)
class Target:
    """A weighted destination of a route: a Service host and its response header operations."""

    host: str
    weight: int
    response: HeaderOps = HeaderOps()


@dataclass(frozen=True)
class HttpRoute:
    """One ``spec.http[]`` entry, checked: its match blocks, destinations, mirror and headers."""

    index: int
    match: tuple[Mapping[str, Any], ...]
    targets: tuple[Target, ...]
    mirror: str | None = None
    mirror_percent: float = 100.0
    response: HeaderOps = HeaderOps()


@dataclass(frozen=True)
class Routed:
    """Where one request went: the answering host, the mirror copy's host, the answer's headers."""

    route: int
    host: str
    mirror: str | None
    response_headers: tuple[tuple[str, str], ...]


# ---- parsing: refuse what cannot be routed, by its path -------------------------------


def parse_http(http: Sequence[Any], where: str = "spec.http") -> tuple[HttpRoute, ...]:
    """Check a VirtualService's ``spec.http`` and return its routes; raise :class:`UnsupportedRoute`."""
    out = []
    for i, item in enumerate(http):
        path = f"{where}[{i}]"
        if not isinstance(item, Mapping):
            raise UnsupportedRoute(f"{path}: expected an object")
        known = _ROUTE_INERT | {"match", "route", "mirror", "mirrorPercentage", "headers"}
        for key in item:
            if key in _ROUTE_REFUSED:
                raise UnsupportedRoute(f"{path}.{key}: {_ROUTE_REFUSED[key]}")
            if key not in known:
                raise UnsupportedRoute(f"{path}.{key}: unknown HTTPRoute field")
        match = tuple(_check_match(m, f"{path}.match[{j}]") for j, m in enumerate(item.get("match") or ()))
        targets = tuple(_target(d, f"{path}.route[{j}]", len(item.get("route") or ()))
                        for j, d in enumerate(item.get("route") or ()))
        if not targets:
            raise UnsupportedRoute(f"{path}.route: no destination")
        mirror = item.get("mirror")
        if mirror is not None:
            _no_subset(mirror, f"{path}.mirror")
        percent = (item.get("mirrorPercentage") or {}).get("value", 100.0)
        if not 0 <= float(percent) <= 100:
            raise UnsupportedRoute(f"{path}.mirrorPercentage.value: {percent} is outside [0, 100]")
        out.append(HttpRoute(
            index=i, match=match, targets=targets,
            mirror=str(mirror["host"]) if mirror is not None else None,
            mirror_percent=float(percent), response=_response_ops(item.get("headers"), f"{path}.headers"),
        ))
    return tuple(out)


def _check_match(block: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(block, Mapping):
        raise UnsupportedRoute(f"{path}: expected an object")
    for key in block:
        if key in _MATCH_REFUSED:
            raise UnsupportedRoute(f"{path}.{key}: {_MATCH_REFUSED[key]}")
        if key not in _MATCH_KEYS:
            raise UnsupportedRoute(f"{path}.{key}: unknown HTTPMatchRequest field")
    for key in ("uri", "method", "authority", "scheme"):
        if key in block:
            _check_string_match(block[key], f"{path}.{key}", allow_empty=False)
    for key in ("headers", "withoutHeaders", "queryParams"):
        for name, rule in (block.get(key) or {}).items():
            _check_string_match(rule, f"{path}.{key}.{name}", allow_empty=True)
    return block


def _check_string_match(rule: Any, path: str, *, allow_empty: bool) -> None:
    if not isinstance(rule, Mapping):
        raise UnsupportedRoute(f"{path}: expected a StringMatch object")
    kinds = [k for k in rule if k in _STRING_MATCH]
    extra = [k for k in rule if k not in _STRING_MATCH]
    if extra:
        raise UnsupportedRoute(f"{path}.{extra[0]}: unknown StringMatch field")
    if len(kinds) > 1 or (not kinds and not allow_empty):
        raise UnsupportedRoute(f"{path}: a StringMatch takes exactly one of exact, prefix, regex")
    if "regex" in rule:
        try:
            re.compile(str(rule["regex"]))
        except re.error as err:
            raise UnsupportedRoute(f"{path}.regex: {err}") from None


def _no_subset(destination: Any, path: str) -> None:
    if not isinstance(destination, Mapping) or not destination.get("host"):
        raise UnsupportedRoute(f"{path}.host: required")
    if destination.get("subset"):
        raise UnsupportedRoute(f"{path}.subset: subsets (DestinationRule labels) are not modelled")


def _target(item: Any, path: str, count: int) -> Target:
    if not isinstance(item, Mapping):
        raise UnsupportedRoute(f"{path}: expected an object")
    _no_subset(item.get("destination"), f"{path}.destination")
    weight = item.get("weight")
    # "If there is only one destination in a rule, the weight value is assumed to be 100."
    weight = 100 if count == 1 else int(weight or 0)
    response = _response_ops(item.get("headers"), f"{path}.headers")
    return Target(str(item["destination"]["host"]), weight, response)


def _response_ops(headers: Any, path: str) -> HeaderOps:
    response = (headers or {}).get("response") if isinstance(headers, Mapping) else None
    if not response:
        return HeaderOps()

    def pairs(key: str) -> tuple[tuple[str, str], ...]:
        return tuple((str(k), str(v)) for k, v in (response.get(key) or {}).items())

    unknown = set(response) - {"set", "add", "remove"}
    if unknown:
        raise UnsupportedRoute(f"{path}.response.{sorted(unknown)[0]}: unknown HeaderOperations field")
    return HeaderOps(pairs("set"), pairs("add"), tuple(str(r) for r in response.get("remove") or ()))


# ---- matching ---------------------------------------------------------------------------


def string_match(rule: Mapping[str, Any], value: str | None, *, ignore_case: bool = False) -> bool:
    """One ``StringMatch`` against a value (None: absent). An empty rule asks only for presence."""
    if value is None:
        return False
    if "exact" in rule:
        want = str(rule["exact"])
        return value.lower() == want.lower() if ignore_case else value == want
    if "prefix" in rule:
        want = str(rule["prefix"])
        return value.lower().startswith(want.lower()) if ignore_case else value.startswith(want)
    if "regex" in rule:
        return re.fullmatch(str(rule["regex"]), value) is not None
    return True


def match_block(block: Mapping[str, Any], request: Request) -> bool:
    """Every condition of one ``HTTPMatchRequest`` holds (AND)."""
    ignore = bool(block.get("ignoreUriCase"))
    if "uri" in block and not string_match(block["uri"], request.uri(), ignore_case=ignore):
        return False
    plain = {"method": request.method, "authority": request.authority, "scheme": request.scheme}
    for key, value in plain.items():
        if key in block and not string_match(block[key], value):
            return False
    for name, rule in (block.get("headers") or {}).items():
        if not string_match(rule, request.header(name)):
            return False
    for name, rule in (block.get("withoutHeaders") or {}).items():
        if string_match(rule, request.header(name)):
            return False
    query = request.query()
    return all(string_match(rule, query.get(name)) for name, rule in (block.get("queryParams") or {}).items())


def first_route(routes: Sequence[HttpRoute], request: Request) -> HttpRoute | None:
    """The first route whose match blocks accept the request (any block: OR; none: everything)."""
    for route in routes:
        if not route.match or any(match_block(b, request) for b in route.match):
            return route
    return None


def pick(targets: Sequence[Target], ticket: float) -> Target | None:
    """The destination whose weight band holds ``ticket`` (in [0, 1)); None when every weight is 0."""
    total = sum(max(t.weight, 0) for t in targets)
    if total <= 0:
        return None
    edge = 0.0
    for target in targets:
        edge += max(target.weight, 0) / total
        if ticket < edge:
            return target
    return [t for t in targets if t.weight > 0][-1]


def route_request(
    routes: Sequence[HttpRoute], request: Request, draw: Callable[[int, str], float]
) -> Routed | None:
    """Route one request: None when no route matches or the matching route has no weight anywhere.

    ``draw(route index, purpose)`` supplies a ticket in [0, 1): purpose
    ``"weight"`` picks the destination by its weight band, ``"mirror"``
    mirrors the request when the ticket falls below the mirror percentage.
    The caller owns the sequence (the simulator spreads tickets evenly per
    route, so the split follows the weights closely over any window).
    """
    route = first_route(routes, request)
    if route is None:
        return None
    target = pick(route.targets, draw(route.index, "weight"))
    if target is None:
        return None
    mirror = None
    if route.mirror and draw(route.index, "mirror") * 100 < route.mirror_percent:
        mirror = route.mirror
    headers = route.response.apply(target.response.apply([]))
    return Routed(route.index, target.host, mirror, tuple(headers))
