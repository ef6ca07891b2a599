"""The three ClusterIP Services every provider routes between: Flagger's ``KubernetesDefaultRouter``.

* ``<svc>`` (the apex, which clients call) and ``<svc>-primary`` select the
  primary pods (``<label>: <value>-primary``); ``<svc>-canary`` selects the
  target's pods (``<label>: <value>``). Each carries ``<label>: <its own name>``
  and the labels and annotations of ``service.apex``/``primary``/``canary``.
* With ``service.portDiscovery`` every other container port is exposed too,
  except the sidecars' (Flagger's ``getPorts``).
* ``service.appProtocol`` goes on the main port, ``trafficDistribution`` on
  each Service, and ``headless`` makes each one headless (``clusterIP: None``).
  A Service's cluster IP cannot change: as in Flagger, switching ``headless``
  needs the Services deleted first (the API server refuses the apply, loudly,
  where Flagger silently keeps the old Service).
* ``service.unmanagedMetadata`` keys are never written: gitflagger applies
  server-side, so a label or annotation another writer set on the Service under
  such a key stays as it is (Flagger copies the live value back on update). A
  listed key the Canary also sets (``service.apex.labels`` etc.) is refused by
  the parser; one gitflagger applied before it was listed is removed by the
  next apply unless another writer owns it too.

A router (:mod:`gitflagger.render.routers`) then splits traffic between
``<svc>-primary`` and ``<svc>-canary``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gitflagger.model.canary import Canary, UnmanagedMetadata
from gitflagger.render.names import canary_service_name, primary_name
from gitflagger.render.routers.base import object_metadata

__all__ = ["SIDECARS", "services"]

SIDECARS = frozenset({"istio-proxy", "envoy"})
"""Containers whose ports port discovery never exposes."""


def services(
    canary: Canary,
    *,
    label: str,
    label_value: str,
    containers: Sequence[Mapping[str, Any]] = (),
    owner_references: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The apex, primary and canary Services, sorted by name.

    ``containers`` are the target's containers, read only when
    ``service.portDiscovery`` is on.
    """
    svc = canary.spec.service
    apex = canary.service_name
    ports = _service_ports(canary, containers)
    plan = [
        (apex, primary_name(label_value), svc.apex),
        (primary_name(apex), primary_name(label_value), svc.primary),
        (canary_service_name(apex), label_value, svc.canary),
    ]
    out = []
    for name, selects, extra in sorted(plan, key=lambda p: p[0]):
        meta = object_metadata(name, canary.namespace, extra, owner_references)
        meta["labels"] = {**meta.get("labels", {}), label: name}
        _leave_unmanaged(meta, svc.unmanaged_metadata)
        spec: dict[str, Any] = {"type": "ClusterIP", "selector": {label: selects}}
        spec["ports"] = copy.deepcopy(ports)
        if svc.headless:
            spec["clusterIP"] = "None"
        if svc.traffic_distribution:
            spec["trafficDistribution"] = svc.traffic_distribution
        out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
    return out


def _leave_unmanaged(meta: dict[str, Any], unmanaged: UnmanagedMetadata | None) -> None:
    """Drop the ``unmanagedMetadata`` keys from ``meta`` (see the module docstring)."""
    if unmanaged is None:
        return
    for field, keys in (("labels", unmanaged.labels), ("annotations", unmanaged.annotations)):
        kept = {k: v for k, v in (meta.get(field) or {}).items() if k not in keys}
        if kept:
            meta[field] = kept
        else:
            meta.pop(field, None)


def _service_ports(canary: Canary, containers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The service port, then (with ``portDiscovery``) every other container port, sorted by name."""
    svc = canary.spec.service
    target_port = svc.target_port if svc.target_port not in (None, 0, "") else svc.port
    name = svc.port_name or "http"
    main: dict[str, Any] = {"name": name, "port": svc.port, "protocol": "TCP", "targetPort": target_port}
    if svc.app_protocol:
        main["appProtocol"] = svc.app_protocol
    ports = [main]
    if svc.port_discovery:
        ports += sorted(_discovered_ports(canary, containers), key=lambda p: str(p["name"]))
    return ports


def _discovered_ports(canary: Canary, containers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Flagger's ``getPorts``: container ports except the service's own and the sidecars'."""
    svc = canary.spec.service
    found: dict[str, int] = {}
    for container in containers:
        cname = str(container.get("name", ""))
        if cname in SIDECARS:
            continue
        for i, port in enumerate(container.get("ports") or ()):
            number = port.get("containerPort")
            if svc.target_port in (None, 0, ""):
                if number == svc.port:
                    continue
            elif isinstance(svc.target_port, int):
                if number == svc.target_port:
                    continue
            elif port.get("name") == svc.target_port:
                continue
            found[str(port.get("name") or f"tcp-{cname}-{i}")] = int(number)
    return [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for n, p in found.items()]
