"""Canary fields Flagger acts on and gitflagger does not: each one given is refused by its path.

A field that is parsed and then ignored renders wrong routing without a word.
So every leaf of Flagger's Canary schema is either acted on or refused, and a
Canary that sets one of these gets a validation error naming it, with every
other problem of the document in the same error. The fields listed here are
refused as a whole (their content is not read); others are refused where they
are read: ``service.mirror`` and ``targetRef.kind`` by the parser, and what
one router cannot act on by that router (``Router.problems``).

"Set" means present with a value that asks for something: ``null``, ``false``,
``""`` and empty lists or mappings are what Flagger does by default, so they
are accepted.

``delegation``, ``appProtocol``, ``headless``, ``trafficDistribution``,
``unmanagedMetadata``, ``portDiscovery``, ``primaryScalerReplicas`` and every
``sessionAffinity`` field are acted
on (:mod:`gitflagger.render.routers.services`, :mod:`gitflagger.render.routers.istio_modes`,
:func:`gitflagger.render.workload.primary_hpa`), and so is ``primaryScalerQueries``
(:mod:`gitflagger.render.keda`); ``targetRef.kind`` other than Deployment or DaemonSet
is refused by the parser itself, as is ``primaryScalerQueries`` on an HPA (it is a
KEDA ScaledObject's).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.model.fields import Problems, join

_OTHER_ROUTER = "gitflagger routes with istio or gatewayapi only"

REFUSED: dict[str, dict[str, str]] = {
    "spec": {
        "ingressRef": "is for Flagger's NGINX router; " + _OTHER_ROUTER,
        "routeRef": "is for Flagger's Gloo and APISIX routers; " + _OTHER_ROUTER,
        "upstreamRef": "is for Flagger's Gloo router; " + _OTHER_ROUTER,
    },
    "spec.service": {
        "meshName": "is for Flagger's App Mesh router; " + _OTHER_ROUTER,
        "backends": "is for Flagger's App Mesh router; " + _OTHER_ROUTER,
    },
}
"""Parent path → field → why it is refused (the message after the path)."""


def refuse_unsupported(p: Problems, spec: Mapping[str, Any]) -> None:
    """Add one problem for each :data:`REFUSED` field that ``spec`` sets."""
    for parent, fields in REFUSED.items():
        block = _block(spec, parent)
        if block is None:
            continue
        for key, why in fields.items():
            if _set(block.get(key)):
                p.add(join(parent, key), f"{why}; remove it (not supported by gitflagger yet)")


def _block(spec: Mapping[str, Any], parent: str) -> Mapping[str, Any] | None:
    block: Any = spec
    for key in parent.split(".")[1:]:
        block = block.get(key) if isinstance(block, Mapping) else None
    return block if isinstance(block, Mapping) else None


def _set(value: Any) -> bool:
    return value not in (None, False, "") and value != [] and value != {}
