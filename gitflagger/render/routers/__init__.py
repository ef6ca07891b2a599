"""Routers by provider name: the one place that knows which traffic providers exist.

:func:`router_for` is the factory (Flagger's ``pkg/router/factory.go``), keyed by
``spec.provider`` exactly. Unlike Flagger's, it never falls back to a default
for a name it does not know: a typo would otherwise route with the wrong
provider. The default for a Canary without ``spec.provider`` is chosen earlier,
when the Canary is parsed (``--mesh-provider``).

:func:`route_kinds` is every kind any router renders, with its apply rank:
the kube adapter's apply order, URL table and watch caches are built from it.
"""

from __future__ import annotations

from collections.abc import Mapping

from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.canary import Canary
from gitflagger.model.fields import describe
from gitflagger.render.routers.base import LiveRef, RouteKind, Router
from gitflagger.render.routers.gatewayapi import GatewayAPIRouter
from gitflagger.render.routers.istio import IstioRouter

__all__ = ["PROVIDERS", "LiveRef", "RouteKind", "Router", "check_routing", "route_kinds", "router_for"]

_ROUTERS: Mapping[str, Router] = {
    router.provider: router
    for router in (IstioRouter(), GatewayAPIRouter("v1"), GatewayAPIRouter("v1beta1"))
}
PROVIDERS = tuple(_ROUTERS)
"""The ``spec.provider`` values gitflagger renders, in the order error messages list them."""


def router_for(provider: str, *, subject: str = "") -> Router:
    """The router of ``provider``; an unknown name is a :class:`ValidationError` naming ``spec.provider``."""
    router = _ROUTERS.get(provider)
    if router is None:
        why = f"unsupported {describe(provider)}: gitflagger supports {', '.join(PROVIDERS)}"
        raise ValidationError([FieldProblem("spec.provider", why)], subject=subject)
    return router


def check_routing(canary: Canary) -> Router:
    """The Canary's router, once it has checked every field it depends on (all problems at once)."""
    subject = f"Canary {canary.ref}"
    router = router_for(canary.spec.provider, subject=subject)
    problems = router.problems(canary)
    if problems:
        raise ValidationError(problems, subject=subject)
    return router


def route_kinds() -> tuple[RouteKind, ...]:
    """Every kind of every router, once per ``(group, kind)``, in apply order."""
    seen: dict[tuple[str, str], RouteKind] = {}
    for router in _ROUTERS.values():
        for kind in router.kinds:
            seen.setdefault((kind.group, kind.kind), kind)
    return tuple(sorted(seen.values(), key=lambda k: k.rank))
