"""What ``revertOnDeletion`` leaves behind (:mod:`gitflagger.render.restore`): every request on the target.

The apex Service selects the target's pods and the router's route sends all
traffic to it, whatever the Canary split by (A/B match, cookie, mirror), with
no owner reference, so garbage collection keeps both.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gitflagger.adapters.files import load_documents
from gitflagger.model import parse_canary
from gitflagger.model.canary import Canary, SessionAffinity
from gitflagger.render.restore import restored
from gitflagger.render.routers.gatewayapi import GatewayAPIRouter
from gitflagger.render.routers.istio import IstioRouter
from tests.unit.render import podinfo

AB = ({"headers": {"x-canary": {"exact": "insider"}}},)


def _with(canary: Canary, **analysis: Any) -> Canary:
    changed = dataclasses.replace(canary.spec.analysis, **analysis)
    return dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, analysis=changed))


def test_the_apex_service_selects_the_target_and_is_owned_by_no_one() -> None:
    canary = dataclasses.replace(podinfo.canary(), uid="u1")
    service, route = (m.obj for m in restored(canary, podinfo.inputs()))
    assert (service["kind"], service["metadata"]["name"]) == ("Service", "podinfo")
    assert service["spec"]["selector"] == {"app": "podinfo"}
    assert service["spec"]["ports"][0]["port"] == 9898
    assert "ownerReferences" not in service["metadata"] and "ownerReferences" not in route["metadata"]


def test_the_virtual_service_keeps_its_hosts_and_sends_everything_to_the_apex() -> None:
    for canary in (
        podinfo.canary(),
        _with(podinfo.canary(), match=AB, iterations=10),
        _with(podinfo.canary(), session_affinity=SessionAffinity(cookie_name="c", max_age=60), mirror=True),
    ):
        [vs] = IstioRouter().finalize(canary)
        assert vs["spec"]["hosts"] == ["app.example.com", "podinfo"]
        assert "public-gateway.istio-system.svc.cluster.local" in vs["spec"]["gateways"]
        everything = [{"destination": {"host": "podinfo"}, "weight": 100}]
        assert [r["route"] for r in vs["spec"]["http"]] == [everything]
        assert not any("mirror" in r for r in vs["spec"]["http"])


def test_the_http_route_keeps_its_parents_and_sends_everything_to_the_apex() -> None:
    [doc] = load_documents([podinfo.ROOT / "fixtures" / "gatewayapi" / "canary.yaml"])
    canary = _with(parse_canary(doc), match=AB, iterations=10)
    [route] = GatewayAPIRouter("v1").finalize(canary)
    assert route["spec"]["parentRefs"] == [{"name": "public-gateway", "namespace": "istio-ingress"}]
    assert route["spec"]["hostnames"] == list(canary.spec.service.hosts)
    backends = [rule["backendRefs"] for rule in route["spec"]["rules"]]
    assert backends == [[{"group": "", "kind": "Service", "name": "podinfo", "port": 9898, "weight": 100}]]
