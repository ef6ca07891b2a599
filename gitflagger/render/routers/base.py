"""The router seam: what every traffic provider answers, so no other module names a routing kind.

Flagger has one ``Router`` interface (``pkg/router/router.go``: Reconcile,
SetRoutes, GetRoutes, Finalize) and a factory keyed by ``spec.provider``.
gitflagger renders instead of applying, so its seam is the pure half of that
interface. A :class:`Router`:

* declares the kinds it owns (:attr:`Router.kinds`), each with its
  :attr:`RouteKind.rank` in the apply order. The kube adapter builds its apply
  order, its URL table and its watch caches from these, and nowhere else is a
  routing kind listed;
* checks the Canary fields it depends on (:meth:`Router.problems`): a field it
  would not act on is refused by path, never ignored;
* renders the routing objects for one decision (:meth:`Router.manifests`):
  the engine applies them after the Services and the primary, in rank order;
* names the one live object whose weights prove what traffic does
  (:meth:`Router.live_ref`), and reads them back (:meth:`Router.weights`):
  observe reads it, apply verifies it after every write (drift), and
  ``--apply-mode git-only`` waits for it;
* says what finalization leaves behind when a Canary with ``revertOnDeletion``
  is deleted (:meth:`Router.finalize`): its route, sending all traffic to the
  apex Service (which then selects the target's pods), with no owner, so that
  garbage collection keeps it while it removes the rest. Flagger's Istio
  ``Finalize`` restores a VirtualService it took over from its stored copy and
  lets garbage collection delete one it created; its Gateway API ``Finalize``
  does nothing. Keeping the route keeps the hosts and gateways it binds.

The three Services (apex, primary, canary) are Flagger's
``KubernetesDefaultRouter`` and every provider needs them; they are rendered by
:mod:`gitflagger.render.routers.services`, outside this seam.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gitflagger.decide.decision import Routes
from gitflagger.errors import FieldProblem
from gitflagger.model.canary import Canary, ObjectMetadata

__all__ = ["LiveRef", "RouteKind", "Router", "analysis_key", "object_metadata"]


@dataclass(frozen=True)
class RouteKind:
    """A kind a router renders: how the API serves it and where it goes in the apply order.

    Ranks are shared with the workload kinds (``Service`` 2, ``Deployment`` 3,
    ``HorizontalPodAutoscaler`` 4): a route must come after the Services it
    sends traffic to, or it would route to nothing for a moment.
    """

    api_version: str
    kind: str
    plural: str
    rank: int

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]


@dataclass(frozen=True)
class LiveRef:
    """The live object whose weights say what traffic does, in the Canary's namespace."""

    api_version: str
    kind: str
    name: str


class Router(Protocol):
    """One traffic provider (``spec.provider``), rendered. Pure: no I/O, no clock."""

    @property
    def provider(self) -> str:
        """The ``spec.provider`` value (and ``--mesh-provider``) that selects this router."""

    @property
    def kinds(self) -> tuple[RouteKind, ...]:
        """Every kind :meth:`manifests` renders, with its apply rank."""

    def problems(self, canary: Canary) -> list[FieldProblem]:
        """The Canary's fields this router cannot act on, each named by its path. Empty: usable."""

    def manifests(
        self, canary: Canary, routes: Routes, owners: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The routing objects for ``routes``, in apply order, owned by ``owners``."""

    def live_ref(self, canary: Canary) -> LiveRef:
        """Which live object :meth:`weights` reads."""

    def weights(self, live: Mapping[str, Any] | None) -> tuple[int, int] | None:
        """``(primary, canary)`` as ``live`` routes them; ``None`` when it has no such routes."""

    def finalize(self, canary: Canary) -> list[dict[str, Any]]:
        """The routing objects that outlive a Canary deleted with ``revertOnDeletion``: no owner,
        all traffic to the apex Service."""


def object_metadata(
    name: str,
    namespace: str,
    extra: ObjectMetadata | None,
    owner_references: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """``metadata`` of a generated object: name, namespace, the Canary's extra labels and owners."""
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if extra is not None and extra.labels:
        meta["labels"] = dict(extra.labels)
    if extra is not None and extra.annotations:
        meta["annotations"] = dict(extra.annotations)
    if owner_references:
        meta["ownerReferences"] = [dict(o) for o in owner_references]
    return meta


def analysis_key(canary: Canary) -> str:
    """``analysis`` (v1beta1) or ``canaryAnalysis`` (v1alpha3): the block the parser read, for error paths."""
    spec = canary.raw.get("spec") or {}
    v1beta1 = spec.get("analysis") is not None or "canaryAnalysis" not in spec
    return "analysis" if v1beta1 else "canaryAnalysis"


def plain_routing(canary: Canary) -> Canary:
    """``canary`` without what splits traffic per request (A/B ``match``, ``sessionAffinity``):
    what a route that sends everything to one place is rendered from."""
    analysis = dataclasses.replace(canary.spec.analysis, match=(), session_affinity=None)
    return dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, analysis=analysis))
