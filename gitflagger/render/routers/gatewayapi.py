"""The Gateway API router (``spec.provider: gatewayapi:v1`` or ``gatewayapi:v1beta1``): one HTTPRoute.

This is Flagger's ``GatewayAPIRouter`` (and ``GatewayAPIV1Beta1Router``),
rendered instead of applied. The HTTPRoute ``<svc>``
(``gateway.networking.k8s.io/v1``, or ``v1beta1`` for that provider) has:

* ``parentRefs``: ``service.gatewayRefs`` as given (required, as in Flagger);
* ``hostnames``: ``service.hosts``;
* a weighted rule: ``service.match`` (every path when empty), header filters
  from ``service.headers``, ``timeouts`` from ``service.timeout`` and
  ``backendTimeout``, and ``backendRefs`` to the Services ``<svc>-primary``
  and ``<svc>-canary`` on ``service.port`` with the decision's weights;
* A/B testing (``analysis.match``): the weighted rule matches each A/B
  condition combined with each service match (the A/B ``headers`` and
  ``queryParams`` replace the service match's own, Flagger's
  ``mergeMatchConditions``), then a second rule, the service matches alone,
  sends everything else to the primary;
* mirroring (a blue/green mirror step): a ``RequestMirror`` filter on the
  weighted rule to ``<svc>-canary``, with ``percent: analysis.mirrorWeight``
  when that is set. Flagger writes no percent (everything is mirrored);
  Gateway API has ``percent`` in its standard channel since v1.3.

The Canary's Istio-shaped blocks are translated by
:mod:`gitflagger.render.routers.gatewayapi_match`. What this router does not
act on is refused by :meth:`GatewayAPIRouter.problems`, naming the field,
where Flagger ignores it or acts on it differently: the Istio-only
``service.gateways``, ``trafficPolicy``, ``retries`` and ``delegation``, and
``appProtocol: tcp`` (Flagger ignores them and routes HTTP),
``service.rewrite`` and ``corsPolicy`` (Flagger translates them; not rendered
here yet), ``analysis.sessionAffinity`` (not rendered here yet), and the
built-in metrics: gitflagger's ``request-success-rate`` and
``request-duration`` are Istio's queries (``istio_requests_total``), which
measure nothing behind a Gateway API route (Flagger switches to the
application's ``http_request_*`` metrics there); name a MetricTemplate.

Flagger's ``GetRoutes`` also waits for every parent Gateway to accept the
route's current generation; gitflagger reads the weights only (the testbed has
no Gateway controller to accept anything).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gitflagger.decide.decision import Routes
from gitflagger.errors import FieldProblem
from gitflagger.model.canary import BUILTIN_METRICS, Canary
from gitflagger.model.fields import describe, join
from gitflagger.render.names import canary_service_name, primary_name
from gitflagger.render.routers.base import LiveRef, RouteKind, analysis_key, object_metadata, plain_routing
from gitflagger.render.routers.gatewayapi_match import DEFAULT_MATCH, header_filters, route_matches

__all__ = ["GROUP", "GatewayAPIRouter"]

GROUP = "gateway.networking.k8s.io"
HTTP_ROUTE = "HTTPRoute"
_PARENT_REF_KEYS = frozenset({"group", "kind", "namespace", "name", "sectionName", "port"})
_AB_KEYS = frozenset({"headers", "queryParams"})
_NOT_RENDERED = {
    "gateways": "is Istio's; Gateway API routes through service.gatewayRefs",
    "trafficPolicy": "is an Istio DestinationRule block; Gateway API has none",
    "retries": "is Istio's; Gateway API's standard HTTPRoute has no retries",
    "rewrite": "is not rendered for Gateway API (Flagger's URLRewrite filter) yet",
    "corsPolicy": "is not rendered for Gateway API (Flagger's CORS filter) yet",
}


class GatewayAPIRouter:
    """``spec.provider: gatewayapi:<version>``: see the module docstring for what is rendered."""

    def __init__(self, version: str) -> None:
        self.provider = f"gatewayapi:{version}"
        self.api_version = f"{GROUP}/{version}"
        self.kinds = (RouteKind(self.api_version, HTTP_ROUTE, "httproutes", rank=6),)

    def problems(self, canary: Canary) -> list[FieldProblem]:
        """Every field this router cannot act on, by path (see the module docstring)."""
        svc = canary.spec.service
        analysis = canary.spec.analysis
        out: list[FieldProblem] = []
        if not svc.gateway_refs:
            out.append(FieldProblem("spec.service.gatewayRefs", f"is required with provider {self.provider}"))
        for i, ref in enumerate(svc.gateway_refs):
            out += _parent_ref_problems(ref, join("spec.service.gatewayRefs", i))
        given = {
            "gateways": bool(svc.gateways),
            "trafficPolicy": svc.traffic_policy is not None,
            "retries": svc.retries is not None,
            "rewrite": svc.rewrite is not None,
            "corsPolicy": svc.cors_policy is not None,
        }
        out += [FieldProblem(f"spec.service.{key}", why) for key, why in _NOT_RENDERED.items() if given[key]]
        if svc.delegation:
            why = f"makes an Istio delegate VirtualService; provider {self.provider} renders an HTTPRoute"
            out.append(FieldProblem("spec.service.delegation", why))
        if svc.tcp:
            why = f"tcp needs a TCP route; provider {self.provider} renders an HTTPRoute"
            out.append(FieldProblem("spec.service.appProtocol", why))
        out += route_matches(svc.match, "spec.service.match")[1]
        out += header_filters(svc.headers, "spec.service.headers")[1]
        out += route_matches(analysis.match, f"spec.{analysis_key(canary)}.match", keys=_AB_KEYS)[1]
        for i, metric in enumerate(analysis.metrics):
            if metric.name in BUILTIN_METRICS and metric.template_ref is None and metric.query is None:
                path = f"spec.{analysis_key(canary)}.metrics[{i}]"
                why = f"the built-in {metric.name} query is Istio's; give it a templateRef"
                out.append(FieldProblem(path, f"{why} with provider {self.provider}"))
        if analysis.session_affinity is not None:
            path = f"spec.{analysis_key(canary)}.sessionAffinity"
            out.append(FieldProblem(path, f"is not rendered for provider {self.provider} yet"))
        return out

    def manifests(
        self, canary: Canary, routes: Routes, owners: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        return [self.http_route(canary, routes, owners)]

    def http_route(
        self, canary: Canary, routes: Routes, owners: Sequence[Mapping[str, Any]] = ()
    ) -> dict[str, Any]:
        """The apex HTTPRoute splitting ``routes.primary``/``routes.canary`` percent."""
        svc = canary.spec.service
        apex = canary.service_name
        matches = route_matches(svc.match, "")[0] or [copy.deepcopy(DEFAULT_MATCH)]
        weighted = self._rule(canary, matches, [(primary_name(apex), routes.primary),
                                                (canary_service_name(apex), routes.canary)])
        rules = [weighted]
        analysis = canary.spec.analysis
        if analysis.match:
            ab = route_matches(analysis.match, "", keys=_AB_KEYS)[0]
            weighted["matches"] = _merge_matches(ab, matches)
            rules.append(self._rule(canary, matches, [(primary_name(apex), 100)]))
        if routes.mirror:
            mirror: dict[str, Any] = {"backendRef": _backend(canary, canary_service_name(apex))}
            if analysis.mirror_weight > 0:
                mirror["percent"] = analysis.mirror_weight
            weighted.setdefault("filters", []).append({"type": "RequestMirror", "requestMirror": mirror})
        spec: dict[str, Any] = {"parentRefs": [copy.deepcopy(dict(r)) for r in svc.gateway_refs]}
        if svc.hosts:
            spec["hostnames"] = list(svc.hosts)
        spec["rules"] = rules
        return {
            "apiVersion": self.api_version,
            "kind": HTTP_ROUTE,
            "metadata": object_metadata(apex, canary.namespace, svc.apex, owners),
            "spec": spec,
        }

    def _rule(
        self, canary: Canary, matches: list[dict[str, Any]], backends: list[tuple[str, int]]
    ) -> dict[str, Any]:
        svc = canary.spec.service
        rule: dict[str, Any] = {"matches": copy.deepcopy(matches)}
        filters = header_filters(svc.headers, "")[0]
        if filters:
            rule["filters"] = filters
        rule["backendRefs"] = [{**_backend(canary, name), "weight": weight} for name, weight in backends]
        timeouts = {"request": svc.timeout, "backendRequest": svc.backend_timeout}
        if any(timeouts.values()):
            rule["timeouts"] = {k: v for k, v in timeouts.items() if v}
        return rule

    def live_ref(self, canary: Canary) -> LiveRef:
        return LiveRef(self.api_version, HTTP_ROUTE, canary.service_name)

    def weights(self, live: Mapping[str, Any] | None) -> tuple[int, int] | None:
        """Flagger's ``GetRoutes``: the weights of the last rule with two backends.

        With A/B testing that is the matched rule (the default rule after it has
        the primary alone). ``None`` when no such rule names the canary Service.
        """
        if live is None:
            return None
        apex = str((live.get("metadata") or {}).get("name", ""))
        primary_host, canary_host = primary_name(apex), canary_service_name(apex)
        found: tuple[int, int] | None = None
        for rule in (live.get("spec") or {}).get("rules") or ():
            if not isinstance(rule, Mapping):
                continue
            refs = [r for r in rule.get("backendRefs") or () if isinstance(r, Mapping)]
            names = {r.get("name"): r.get("weight") for r in refs}
            if len(refs) == 2 and canary_host in names:
                found = (_weight(names.get(primary_host)), _weight(names.get(canary_host)))
        return found

    def finalize(self, canary: Canary) -> list[dict[str, Any]]:
        """The HTTPRoute, every rule's backend the apex Service at weight 100, owned by no one.

        Its parent Gateways and hostnames stay, so the host keeps being served.
        """
        route = self.http_route(plain_routing(canary), Routes())
        for rule in route["spec"]["rules"]:
            first = rule["backendRefs"][0]  # the primary's; the canary's has weight 0
            rule["backendRefs"] = [{**first, "name": canary.service_name, "weight": 100}]
        return [route]


def _backend(canary: Canary, name: str) -> dict[str, Any]:
    """A ``BackendObjectReference`` to a Service of the Canary, on ``service.port`` (as Flagger writes it)."""
    return {"group": "", "kind": "Service", "name": name, "port": canary.spec.service.port}


def _weight(value: object) -> int:
    """A backend's weight; Gateway API defaults a missing one to 1."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _merge_matches(ab: list[dict[str, Any]], service: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flagger's ``mergeMatchConditions``: each A/B condition over each service match.

    The A/B condition's ``headers`` and ``queryParams`` replace the service
    match's own; its path and method stay the service's.
    """
    merged = []
    for condition in ab:
        for default in service:
            item = copy.deepcopy(default)
            for key in _AB_KEYS:
                if condition.get(key):
                    item[key] = copy.deepcopy(condition[key])
            merged.append(item)
    return merged or copy.deepcopy(service)


def _parent_ref_problems(ref: Mapping[str, Any], path: str) -> list[FieldProblem]:
    """A ``ParentReference`` needs a ``name``; fields Gateway API does not define are refused."""
    out = [
        FieldProblem(join(path, str(k)), "is not a Gateway API ParentReference field")
        for k in sorted(ref) if k not in _PARENT_REF_KEYS
    ]
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        out.append(FieldProblem(join(path, "name"), f"must be a non-empty string, got {describe(name)}"))
    return out
