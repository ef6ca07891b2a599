"""The Istio router's variants: a delegate VirtualService, TCP routing, and the sticky cookie's attributes.

Split from :mod:`gitflagger.render.routers.istio` because each changes what
the VirtualService may carry, and so what the router must refuse rather than
drop. As in Flagger's ``IstioRouter``:

* ``service.delegation: true`` renders a *delegate*: a VirtualService with no
  ``hosts`` and no ``gateways``, which a root VirtualService (owned by someone
  else) points at with ``delegate:``. Flagger refuses a delegate with
  ``service.hosts`` or ``service.gateways`` (its reconcile fails); so do we,
  by path, before anything is rendered. A TCP delegate is refused too: Istio's
  ``delegate`` is a field of an HTTP route, so a root can never reach it
  (Flagger renders it, and it routes nothing).
* ``service.appProtocol: tcp`` (any case, Flagger's ``isTcp``) renders one
  ``tcp`` route with the weighted destinations instead of HTTP routes, matching
  the ports of ``service.match`` (Istio's ``L4MatchAttributes``). Flagger
  silently drops everything an HTTP route would carry; here each such field is
  refused by its path: A/B ``match``, ``mirror``, ``sessionAffinity``,
  ``rewrite``, ``timeout``, ``retries``, ``corsPolicy``, ``headers``, and a
  ``service.match`` condition on anything but ``port``. So is a built-in metric
  (``request-success-rate``, ``request-duration``): both query
  ``istio_requests_total``/``istio_request_duration_milliseconds``, which
  Istio reports for HTTP and gRPC only, so Flagger's analysis finds no values
  and rolls back every TCP release; name a MetricTemplate instead.
* The sticky cookie's ``Set-Cookie`` value carries newer Flagger's attributes
  (``BuildCookie``): ``Max-Age``, then ``Domain``, ``HttpOnly``,
  ``Partitioned``, ``Path``, ``SameSite``, ``Secure``, in that order. One
  deliberate difference: the ``Set-Cookie`` that expires a previous rollout's
  cookie (``Max-Age=-1``) carries the same attributes (Flagger's carries none),
  as a browser only drops a cookie whose domain, path and partition match.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gitflagger.errors import FieldProblem
from gitflagger.model.canary import BUILTIN_METRICS, Canary, SessionAffinity
from gitflagger.model.fields import join
from gitflagger.render.routers.base import analysis_key

__all__ = ["delegation_problems", "set_cookie", "tcp_problems", "tcp_virtual_service_spec"]

_HTTP_ONLY_SERVICE = ("rewrite", "timeout", "retries", "corsPolicy", "headers")
_TCP = "is an HTTP route setting; service.appProtocol tcp renders a TCP route"


def delegation_problems(canary: Canary) -> list[FieldProblem]:
    """``service.hosts`` and ``service.gateways`` with ``delegation``: a delegate has neither."""
    svc = canary.spec.service
    if not svc.delegation:
        return []
    given = {"hosts": svc.hosts, "gateways": svc.gateways}
    why = "must be empty with service.delegation: the root VirtualService sets it for its delegate"
    out = [FieldProblem(f"spec.service.{key}", why) for key, value in given.items() if value]
    if svc.tcp:
        why = "with appProtocol tcp: Istio delegates HTTP routes only, a TCP delegate would route nothing"
        out.append(FieldProblem("spec.service.delegation", why))
    return out


def tcp_problems(canary: Canary) -> list[FieldProblem]:
    """Every field a TCP route cannot act on, by path (see the module docstring)."""
    svc = canary.spec.service
    if not svc.tcp:
        return []
    analysis = canary.spec.analysis
    block = f"spec.{analysis_key(canary)}"
    given = {
        "rewrite": svc.rewrite is not None,
        "timeout": svc.timeout is not None,
        "retries": svc.retries is not None,
        "corsPolicy": svc.cors_policy is not None,
        "headers": svc.headers is not None,
    }
    out = [FieldProblem(f"spec.service.{key}", _TCP) for key in _HTTP_ONLY_SERVICE if given[key]]
    for i, condition in enumerate(svc.match):
        extra = sorted(k for k in condition if k != "port") if isinstance(condition, Mapping) else []
        if extra:
            why = f"a TCP route matches on port only, not {', '.join(extra)}"
            out.append(FieldProblem(join("spec.service.match", i), why))
    analysis_given = {
        "match": bool(analysis.match),
        "mirror": analysis.mirror,
        "sessionAffinity": analysis.session_affinity is not None,
    }
    out += [FieldProblem(f"{block}.{key}", _TCP) for key, given_ in analysis_given.items() if given_]
    for i, metric in enumerate(analysis.metrics):
        if metric.name in BUILTIN_METRICS and metric.template_ref is None and metric.query is None:
            why = (
                f"the built-in {metric.name} query reads Istio's HTTP request metrics, which TCP "
                "traffic does not produce; give it a templateRef"
            )
            out.append(FieldProblem(f"{block}.metrics[{i}]", why))
    return out


def tcp_virtual_service_spec(match: Sequence[Any], weighted: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``tcp`` part of a TCP VirtualService: one route, matching ``service.match``'s ports."""
    route: dict[str, Any] = {}
    ports = [{"port": m["port"]} if "port" in m else {} for m in match if isinstance(m, Mapping)]
    if ports:
        route["match"] = ports
    route["route"] = copy.deepcopy(weighted)
    return {"tcp": [route]}


def set_cookie(affinity: SessionAffinity | None, cookie: str, *, max_age: int | None = None) -> str:
    """The ``Set-Cookie`` value for ``cookie`` (``name=value``), Flagger's ``BuildCookie``.

    ``max_age`` overrides the affinity's (``-1`` expires the cookie).

    >>> set_cookie(SessionAffinity("c", 60, path="/", same_site="Lax", secure=True), "c=abc")
    'c=abc; Max-Age=60; Path=/; SameSite=Lax; Secure'
    >>> set_cookie(SessionAffinity("c", 60, domain="example.com"), "c=abc", max_age=-1)
    'c=abc; Max-Age=-1; Domain=example.com'
    """
    if affinity is None:
        affinity = SessionAffinity(cookie_name=cookie.partition("=")[0])
    attributes = {
        "Max-Age": str(affinity.max_age if max_age is None else max_age),
        "Domain": affinity.domain,
        "HttpOnly": affinity.http_only,
        "Partitioned": affinity.partitioned,
        "Path": affinity.path,
        "SameSite": affinity.same_site,
        "Secure": affinity.secure,
    }
    parts = [cookie]
    for name, value in attributes.items():
        if value is True:
            parts.append(name)
        elif value:
            parts.append(f"{name}={value}")
    return "; ".join(parts)
