"""What a Canary deleted with ``revertOnDeletion`` leaves behind: traffic on the target, no owner. Pure.

Flagger's finalizer (``pkg/controller/finalizer.go``) scales the target back
up, points the apex Service at the target's pods and restores the routes.
Everything gitflagger generates names the Canary as its controller owner, so
once the finalizer lets go, garbage collection deletes the primary, the
``-primary``/``-canary`` Services and the router's objects. What must outlive
the Canary is therefore rendered without an owner reference (server-side
apply then removes the one gitflagger had set):

* the apex Service, selecting the target's pods (``<label>: <value>`` instead
  of ``<value>-primary``), with its ports and metadata as before;
* the router's route (:meth:`~gitflagger.render.routers.base.Router.finalize`),
  sending all traffic to the apex Service, so the hosts and gateways it binds
  keep serving.
"""

from __future__ import annotations

from collections.abc import Sequence

from gitflagger.model.canary import Canary
from gitflagger.render import Manifest, WorkloadInputs
from gitflagger.render.names import SELECTOR_LABELS, selector_label
from gitflagger.render.routers import check_routing
from gitflagger.render.routers.services import services
from gitflagger.render.yaml import strip_noise

__all__ = ["restored"]


def restored(
    canary: Canary, inputs: WorkloadInputs, *, selector_labels: Sequence[str] = SELECTOR_LABELS
) -> tuple[Manifest, ...]:
    """The apex Service on the target's pods, then the router's routes to it, in apply order."""
    router = check_routing(canary)
    target = strip_noise(inputs.target)
    label, value = selector_label(target, selector_labels)
    containers = ((target.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or ()
    [apex] = [
        svc
        for svc in services(canary, label=label, label_value=value, containers=containers)
        if svc["metadata"]["name"] == canary.service_name
    ]
    apex["spec"]["selector"] = {label: value}
    return (Manifest(apex), *(Manifest(obj) for obj in router.finalize(canary)))
