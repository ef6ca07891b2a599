"""The Istio router (``spec.provider: istio``, the default): two DestinationRules and one VirtualService.

This is Flagger's ``IstioRouter``, rendered instead of applied (the Services
it routes between are :mod:`gitflagger.render.routers.services`):

* The VirtualService ``<svc>`` answers for ``service.hosts`` plus the apex name,
  on ``service.gateways`` (``mesh`` when none are given: list gateways
  yourself and the mesh is included only if you list it, as in Flagger). Its
  HTTP route carries ``service.match``, ``rewrite``, ``timeout``, ``retries``,
  ``corsPolicy`` and ``headers`` and splits traffic by the decision's weights.
* A/B testing (``analysis.match``): a first route for the matching requests,
  with the weights (canary 100 during the analysis), then a default route to
  the primary alone. Flagger writes the primary weight into that single
  destination, which Istio ignores; we write 100, which is what happens.
* Mirroring: ``mirror`` to the canary Service on the weighted route, with
  ``mirrorPercentage`` when ``analysis.mirrorWeight`` is set.
* DestinationRules ``<svc>-primary`` and ``<svc>-canary`` carry
  ``service.trafficPolicy``.

* Session affinity (``analysis.sessionAffinity``, not with A/B ``match``, as in
  Flagger): a first route named ``sticky-route``, then the weighted route.
  While the canary has weight, the sticky route sends requests whose
  ``Cookie`` header matches the rollout's cookie to the canary (weight 100),
  and the weighted route's canary destination adds
  ``Set-Cookie: <name>=<value>; Max-Age=<maxAge>`` to its responses. Once the
  canary is back at 0, the sticky route matches the previous rollout's cookie,
  keeps the weighted route's destinations, and answers
  ``Set-Cookie: <name>=<value>; Max-Age=-1`` so clients drop it. Before any
  cookie exists it repeats the weighted route, as Flagger writes it. The
  cookies come from the decision (:mod:`gitflagger.decide.affinity`).
  With ``primaryCookieName`` (newer Flagger), while the canary has weight a
  second route ``primary-sticky-route`` follows the sticky route: requests
  carrying the primary cookie go to the primary (weight 100), and the
  weighted route's primary destination adds
  ``Set-Cookie: <primary cookie>; Max-Age=<analysis interval in seconds>``.
  The cookie attributes are rendered by :func:`.istio_modes.set_cookie`.
  Two deliberate differences: regex metacharacters in the cookie are escaped
  in the match (Flagger pastes them raw), and a mirror is set on both routes
  (Flagger sets it only on the first, so a previous cookie's route would be
  the only one mirrored).

Flagger also stamps ``kustomize.toolkit.fluxcd.io/reconcile: disabled`` on the
objects it creates, to stop Flux from reverting them. In gitflagger the config
repo *is* what Flux applies (``git-only`` mode), so that annotation would
switch our own delivery off; it is deliberately not rendered.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gitflagger.decide.decision import Routes
from gitflagger.errors import FieldProblem
from gitflagger.model.canary import Canary
from gitflagger.render.names import canary_service_name, primary_name
from gitflagger.render.routers.base import LiveRef, RouteKind, object_metadata, plain_routing
from gitflagger.render.routers.istio_modes import (
    delegation_problems,
    set_cookie,
    tcp_problems,
    tcp_virtual_service_spec,
)

__all__ = ["ISTIO_API_VERSION", "IstioRouter", "destination_rules", "route_weights", "virtual_service"]

ISTIO_API_VERSION = "networking.istio.io/v1beta1"
MESH_GATEWAY = "mesh"
STICKY_ROUTE = "sticky-route"
PRIMARY_STICKY_ROUTE = "primary-sticky-route"
COOKIE = "Cookie"
SET_COOKIE = "Set-Cookie"
_RE2_SPECIAL = frozenset("\\.+*?()|[]{}^$")
DESTINATION_RULE = RouteKind(ISTIO_API_VERSION, "DestinationRule", "destinationrules", rank=5)
VIRTUAL_SERVICE = RouteKind(ISTIO_API_VERSION, "VirtualService", "virtualservices", rank=6)
"""Last: a VirtualService must never route to a subset or Service that does not exist yet."""
_GATEWAY_API_ONLY = {
    "gatewayRefs": "names Gateway API parents; istio routes through service.gateways",
    "backendTimeout": "is a Gateway API route timeout; istio has service.timeout",
}


class IstioRouter:
    """``spec.provider: istio``: see the module docstring for what is rendered."""

    provider = "istio"
    kinds = (DESTINATION_RULE, VIRTUAL_SERVICE)

    def problems(self, canary: Canary) -> list[FieldProblem]:
        """Gateway API fields (Flagger's Istio router ignores them) are refused, and so is what
        delegation or a TCP route cannot carry (see :func:`delegation_problems`, :func:`tcp_problems`)."""
        svc = canary.spec.service
        given = {"gatewayRefs": bool(svc.gateway_refs), "backendTimeout": svc.backend_timeout is not None}
        return [
            *(
                FieldProblem(f"spec.service.{key}", f"not used with provider istio: it {why}")
                for key, why in _GATEWAY_API_ONLY.items()
                if given[key]
            ),
            *delegation_problems(canary),
            *tcp_problems(canary),
        ]

    def manifests(
        self, canary: Canary, routes: Routes, owners: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        return [
            *destination_rules(canary, owner_references=owners),
            virtual_service(canary, routes, owner_references=owners),
        ]

    def live_ref(self, canary: Canary) -> LiveRef:
        return LiveRef(ISTIO_API_VERSION, VIRTUAL_SERVICE.kind, canary.service_name)

    def weights(self, live: Mapping[str, Any] | None) -> tuple[int, int] | None:
        """The live VirtualService's weights; its own name is the apex, which gives the hosts."""
        if live is None:
            return None
        apex = str((live.get("metadata") or {}).get("name", ""))
        return route_weights(live, primary_name(apex), canary_service_name(apex))

    def finalize(self, canary: Canary) -> list[dict[str, Any]]:
        """The VirtualService, sending all traffic to the apex Service, owned by no one.

        Its hosts, gateways and pass-through blocks stay, so ingress keeps
        working; the DestinationRules of ``-primary`` and ``-canary`` are
        garbage-collected with the Canary.
        """
        vs = virtual_service(plain_routing(canary), Routes())
        for entry in [*vs["spec"].get("http", ()), *vs["spec"].get("tcp", ())]:
            first = entry["route"][0]  # the primary's destination; the canary's has weight 0
            entry["route"] = [{**first, "destination": {**first["destination"], "host": canary.service_name},
                               "weight": 100}]
        return [vs]


def destination_rules(
    canary: Canary, *, owner_references: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """``<svc>-canary`` and ``<svc>-primary``, each with ``service.trafficPolicy``."""
    out = []
    for host in sorted((canary_service_name(canary.service_name), primary_name(canary.service_name))):
        spec: dict[str, Any] = {"host": host}
        if canary.spec.service.traffic_policy is not None:
            spec["trafficPolicy"] = copy.deepcopy(canary.spec.service.traffic_policy)
        out.append(
            {
                "apiVersion": ISTIO_API_VERSION,
                "kind": "DestinationRule",
                "metadata": object_metadata(host, canary.namespace, None, owner_references),
                "spec": spec,
            }
        )
    return out


def virtual_service(
    canary: Canary, routes: Routes, *, owner_references: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """The apex VirtualService routing ``routes.primary``/``routes.canary`` percent."""
    svc = canary.spec.service
    apex = canary.service_name
    hosts = list(svc.hosts)
    if apex not in hosts and "*" not in hosts:
        hosts.append(apex)
    gateways = list(svc.gateways) or [MESH_GATEWAY]
    weighted = [
        _destination(canary, primary_name(apex), routes.primary),
        _destination(canary, canary_service_name(apex), routes.canary),
    ]
    # A delegate has neither: the root VirtualService that delegates to it answers for them.
    addressing: dict[str, Any] = {} if svc.delegation else {"hosts": hosts, "gateways": gateways}
    if svc.tcp:
        spec = {**addressing, **tcp_virtual_service_spec(svc.match, weighted)}
        return _virtual_service_object(canary, spec, owner_references)
    analysis = canary.spec.analysis
    if analysis.match:
        http = [
            _http_route(canary, _merge_match(analysis.match, svc.match), weighted),
            _http_route(canary, svc.match, [_destination(canary, primary_name(apex), 100)]),
        ]
    else:
        route = _http_route(canary, svc.match, weighted)
        http = [route]
        if analysis.session_affinity is not None:
            http = [_sticky_route(canary, routes), route]
            if routes.sticky_cookie:
                cookie = set_cookie(analysis.session_affinity, routes.sticky_cookie)
                weighted[1]["headers"] = {"response": {"add": {SET_COOKIE: cookie}}}
            if routes.sticky_cookie and routes.primary_cookie:
                # Flagger's primary cookie lives one analysis interval.
                seconds = analysis.interval.nanoseconds // 1_000_000_000
                cookie = set_cookie(analysis.session_affinity, routes.primary_cookie, max_age=seconds)
                weighted[0]["headers"] = {"response": {"add": {SET_COOKIE: cookie}}}
                http.insert(1, _primary_sticky_route(canary, routes.primary_cookie))
        if routes.mirror:
            for item in http:
                item["mirror"] = {"host": canary_service_name(apex)}
                if analysis.mirror_weight > 0:
                    item["mirrorPercentage"] = {"value": analysis.mirror_weight}
    return _virtual_service_object(canary, {**addressing, "http": http}, owner_references)


def _virtual_service_object(
    canary: Canary, spec: dict[str, Any], owner_references: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    return {
        "apiVersion": ISTIO_API_VERSION,
        "kind": "VirtualService",
        "metadata": object_metadata(
            canary.service_name, canary.namespace, canary.spec.service.apex, owner_references
        ),
        "spec": spec,
    }


def _http_route(canary: Canary, match: Sequence[Any], destinations: list[dict[str, Any]]) -> dict[str, Any]:
    """One HTTP route with the service's pass-through Istio blocks; empty blocks are left out."""
    svc = canary.spec.service
    route: dict[str, Any] = {}
    optional = {
        "match": list(match),
        "rewrite": svc.rewrite,
        "timeout": svc.timeout,
        "retries": svc.retries,
        "corsPolicy": svc.cors_policy,
        "headers": svc.headers,
    }
    for key, value in optional.items():
        if value:
            route[key] = copy.deepcopy(value)
    route["route"] = destinations
    return route


def _sticky_route(canary: Canary, routes: Routes) -> dict[str, Any]:
    """Flagger's ``sticky-route``: cookie holders to the canary, or told to drop an old cookie."""
    svc = canary.spec.service
    apex = canary.service_name
    if routes.sticky_cookie:
        match = _merge_match([_cookie_match(routes.sticky_cookie)], svc.match)
        route = _http_route(
            canary,
            match,
            [
                _destination(canary, primary_name(apex), 0),
                _destination(canary, canary_service_name(apex), 100),
            ],
        )
    else:
        destinations = [
            _destination(canary, primary_name(apex), routes.primary),
            _destination(canary, canary_service_name(apex), routes.canary),
        ]
        if routes.expired_cookie:
            match = _merge_match([_cookie_match(routes.expired_cookie)], svc.match)
            route = _http_route(canary, match, destinations)
            expired = set_cookie(canary.spec.analysis.session_affinity, routes.expired_cookie, max_age=-1)
            route["headers"] = _with_response_header(svc.headers, SET_COOKIE, expired)
        else:
            route = _http_route(canary, svc.match, destinations)
    return {"name": STICKY_ROUTE, **route}


def _primary_sticky_route(canary: Canary, cookie: str) -> dict[str, Any]:
    """Newer Flagger's second sticky route: primary-cookie holders to the primary (weight 100)."""
    apex = canary.service_name
    match = _merge_match([_cookie_match(cookie)], canary.spec.service.match)
    destinations = [
        _destination(canary, primary_name(apex), 100),
        _destination(canary, canary_service_name(apex), 0),
    ]
    return {"name": PRIMARY_STICKY_ROUTE, **_http_route(canary, match, destinations)}


def _with_response_header(headers: Any, name: str, value: str) -> dict[str, Any]:
    """A copy of the service's Istio ``headers`` block with ``response.add[name] = value``."""
    out: dict[str, Any] = dict(copy.deepcopy(headers)) if isinstance(headers, Mapping) else {}
    response = out.get("response")
    response = dict(response) if isinstance(response, Mapping) else {}
    add = response.get("add")
    response["add"] = {**(add if isinstance(add, Mapping) else {}), name: value}
    out["response"] = response
    return out


def _cookie_match(cookie: str) -> dict[str, Any]:
    """Flagger's cookie match: ``.*<name>.*<value>.*`` on the ``Cookie`` header."""
    name, _, value = cookie.partition("=")
    return {"headers": {COOKIE: {"regex": f".*{_regex_literal(name)}.*{_regex_literal(value)}.*"}}}


def _regex_literal(text: str) -> str:
    """``text`` with RE2's metacharacters escaped; letters, digits, ``-`` and ``_`` stay as they are.

    >>> _regex_literal("flagger-cookie"), _regex_literal("a.b")
    ('flagger-cookie', 'a\\.b')
    """
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _destination(canary: Canary, host: str, weight: int) -> dict[str, Any]:
    """A weighted destination; with port discovery behind a gateway or a root, the port is pinned.

    Flagger pins ``destination.port`` only when ``portDiscovery`` is on and the
    first gateway is not ``mesh``, or the VirtualService is a delegate: the
    Service then exposes several ports and an ingress gateway (or the root
    VirtualService's gateway) cannot tell which one the route means.
    """
    svc = canary.spec.service
    destination: dict[str, Any] = {"host": host}
    behind_gateway = bool(svc.gateways) and svc.gateways[0] != MESH_GATEWAY
    if svc.port_discovery and (behind_gateway or svc.delegation):
        destination["port"] = {"number": svc.port}
    return {"destination": destination, "weight": weight}


def _merge_match(canary_match: Sequence[Any], defaults: Sequence[Any]) -> list[Any]:
    """Flagger's ``mergeMatchConditions``: each A/B condition combined with each service match.

    The service's match (a URI prefix, say) is kept and the A/B condition's
    ``headers`` and ``sourceLabels`` replace its own. Without service matches
    the A/B conditions are used as they are.
    """
    if not defaults:
        return copy.deepcopy(list(canary_match))
    merged = []
    for condition in canary_match:
        for default in defaults:
            item = copy.deepcopy(dict(default))
            for key in ("headers", "sourceLabels"):
                if isinstance(condition, Mapping) and condition.get(key) is not None:
                    item[key] = copy.deepcopy(condition[key])
            merged.append(item)
    return merged


def _weight(route: Mapping[str, Any], destinations: int) -> int:
    """A destination's weight; Istio gives a lone destination without one all the traffic."""
    weight = route.get("weight")
    if isinstance(weight, int) and not isinstance(weight, bool):
        return weight
    return 100 if destinations == 1 else 0


def route_weights(
    virtual_service: Mapping[str, Any] | None, primary_host: str, canary_host: str
) -> tuple[int, int] | None:
    """``(primary, canary)`` weights of the live VirtualService, or ``None`` when it has no such routes.

    Flagger's Istio ``GetRoutes``, read back after an apply to detect drift. As
    there, the HTTP route read is the *last* one that has a destination for
    the canary host. With A/B testing that is the matched
    route (the default route after it goes to the primary alone), so the
    weights are the ones the decision set for the matched requests. Hosts are
    compared exactly; pass the names the rendered VirtualService uses
    (``podinfo-primary``, ``podinfo-canary``).

    >>> vs = {"spec": {"http": [{"route": [
    ...     {"destination": {"host": "podinfo-primary"}, "weight": 90},
    ...     {"destination": {"host": "podinfo-canary"}, "weight": 10}]}]}}
    >>> route_weights(vs, "podinfo-primary", "podinfo-canary")
    (90, 10)
    """
    if virtual_service is None:
        return None
    chosen: list[Mapping[str, Any]] | None = None
    spec = virtual_service.get("spec") or {}
    for http in [*(spec.get("http") or ()), *(spec.get("tcp") or ())]:
        if not isinstance(http, Mapping):
            continue
        routes = [r for r in http.get("route") or () if isinstance(r, Mapping)]
        if any((r.get("destination") or {}).get("host") == canary_host for r in routes):
            chosen = routes
    if chosen is None:
        return None
    primary = canary = 0
    for route in chosen:
        host = (route.get("destination") or {}).get("host")
        if host == primary_host:
            primary = _weight(route, len(chosen))
        elif host == canary_host:
            canary = _weight(route, len(chosen))
    return primary, canary
