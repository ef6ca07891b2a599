"""The three ClusterIP Services every provider routes between: Flagger's ``KubernetesDefaultRouter``.

* ``<svc>`` (the apex, which clients call) and ``<svc>-primary`` select the
  primary pods (``<label>: <value>-primary``); ``<svc>-canary`` selects the
  target's pods (``<label>: <value>``). Each carries ``<label>: <its own name>``
  and the labels and annotations of ``service.apex``/``primary``/``canary``.
* With ``service.portDiscovery`` every other container port is exposed too,
  except the sidecars' (Flagger's ``getPorts``).

A router (:mod:`gitflagger.render.routers`) then splits traffic between
``<svc>-primary`` and ``<svc>-canary``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from gitflagger.model.canary import Canary
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
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {"type": "ClusterIP", "selector": {label: selects}, "ports": copy.deepcopy(ports)},
            }
        )
    return out


def _service_ports(canary: Canary, containers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The service port, then (with ``portDiscovery``) every other container port, sorted by name."""
    svc = canary.spec.service
    target_port = svc.target_port if svc.target_port not in (None, 0, "") else svc.port
    name = svc.port_name or "http"
    ports = [{"name": name, "port": svc.port, "protocol": "TCP", "targetPort": target_port}]
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
