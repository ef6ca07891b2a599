"""The Istio router's delegate and TCP modes, and the sticky cookie's attributes (golden cases too)."""

from __future__ import annotations

from typing import Any

import pytest

from gitflagger.decide.decision import Routes
from gitflagger.errors import ValidationError
from gitflagger.model.canary import SessionAffinity
from gitflagger.model.parse import parse_canary
from gitflagger.render import render
from gitflagger.render.routers import check_routing, router_for
from gitflagger.render.routers.istio import virtual_service
from gitflagger.render.routers.istio_modes import set_cookie
from tests.unit.model.canaries import edited, minimal
from tests.unit.render import podinfo

ISTIO = router_for("istio")


def _problems(**changes: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        check_routing(parse_canary(edited(minimal(), **changes)))
    return [str(p) for p in info.value.problems]


def test_a_delegate_with_hosts_or_gateways_is_refused_by_path() -> None:
    """Flagger fails the reconcile: a delegate cannot answer for hosts or sit on gateways."""
    problems = _problems(spec__service__delegation=True, spec__service__hosts=["a.test"],
                         spec__service__gateways=["gw"])
    why = "must be empty with service.delegation: the root VirtualService sets it for its delegate"
    assert problems == [f"spec.service.hosts: {why}", f"spec.service.gateways: {why}"]


def test_a_tcp_delegate_is_refused() -> None:
    """Istio delegates from an HTTP route only: a TCP delegate would never be reached."""
    assert _problems(spec__service__delegation=True, spec__service__appProtocol="tcp") == [
        "spec.service.delegation: with appProtocol tcp: Istio delegates HTTP routes only, "
        "a TCP delegate would route nothing"
    ]


def test_a_delegate_has_no_hosts_nor_gateways_and_pins_no_port_without_discovery() -> None:
    canary = parse_canary(edited(minimal(), spec__service__delegation=True))
    assert ISTIO.problems(canary) == []
    spec = virtual_service(canary, Routes(90, 10))["spec"]
    assert spec == {
        "http": [
            {
                "route": [
                    {"destination": {"host": "podinfo-primary"}, "weight": 90},
                    {"destination": {"host": "podinfo-canary"}, "weight": 10},
                ]
            }
        ]
    }


def test_tcp_refuses_every_http_route_field_by_path() -> None:
    problems = _problems(
        spec__service__appProtocol="Tcp",
        spec__service__timeout="5s",
        spec__service__retries={"attempts": 3},
        spec__service__headers={"request": {"set": {"a": "b"}}},
        spec__service__rewrite={"uri": "/"},
        spec__service__corsPolicy={"allowOrigins": [{"exact": "*"}]},
        spec__service__match=[{"port": 9898}, {"port": 80, "uri": {"prefix": "/"}}],
        spec__analysis__iterations=5,
        spec__analysis__match=[{"headers": {"x": {"exact": "y"}}}],
        spec__analysis__mirror=True,
        spec__analysis__sessionAffinity={"cookieName": "c"},
    )
    tcp = "is an HTTP route setting; service.appProtocol tcp renders a TCP route"
    assert problems == [
        *(f"spec.service.{key}: {tcp}" for key in ("rewrite", "timeout", "retries", "corsPolicy", "headers")),
        "spec.service.match[1]: a TCP route matches on port only, not uri",
        *(f"spec.analysis.{key}: {tcp}" for key in ("match", "mirror", "sessionAffinity")),
    ]


def test_tcp_refuses_the_built_in_http_metrics() -> None:
    """Istio reports istio_requests_total for HTTP and gRPC only: these would find no values."""
    metrics = [
        {"name": "request-success-rate", "thresholdRange": {"min": 99}},
        {"name": "tcp-errors", "templateRef": {"name": "tcp-errors"}, "thresholdRange": {"max": 1}},
        {"name": "request-duration", "thresholdRange": {"max": 500}},
    ]
    problems = _problems(spec__service__appProtocol="tcp", spec__analysis__metrics=metrics)
    assert [p.split(":")[0] for p in problems] == ["spec.analysis.metrics[0]", "spec.analysis.metrics[2]"]
    assert "TCP traffic does not produce; give it a templateRef" in problems[0]


def test_tcp_weights_are_read_back_from_the_tcp_route() -> None:
    canary = parse_canary(edited(minimal(), spec__service__appProtocol="tcp"))
    live = virtual_service(canary, Routes(70, 30))
    assert "http" not in live["spec"] and "match" not in live["spec"]["tcp"][0]
    assert ISTIO.weights(live) == (70, 30)


def test_other_app_protocols_only_label_the_port() -> None:
    canary = parse_canary(edited(minimal(), spec__service__appProtocol="http2"))
    assert "http" in virtual_service(canary, Routes(100, 0))["spec"]
    services = [m.obj for m in render(podinfo_canary_with(appProtocol="http2"), podinfo.inputs(),
                                      podinfo.decision(promote=True)) if m.kind == "Service"]
    assert {s["spec"]["ports"][0]["appProtocol"] for s in services} == {"http2"}


def podinfo_canary_with(**service: Any) -> Any:
    doc = podinfo.load("canary-v1beta1.yaml")
    doc["spec"]["service"].update(service)
    return parse_canary(doc)


def test_unmanaged_keys_are_left_out_of_every_generated_service() -> None:
    canary = podinfo_canary_with(
        primary={"labels": {"keep": "1"}, "annotations": {"note": "x"}},
        unmanagedMetadata={"labels": ["tier", "app"], "annotations": ["owner"]},
    )
    services = {m.name: m.obj for m in render(canary, podinfo.inputs(), podinfo.decision(promote=True))
                if m.kind == "Service"}
    # "app" is the selector label gitflagger otherwise writes on each Service (app: <its name>).
    assert services["podinfo-primary"]["metadata"]["labels"] == {"keep": "1"}
    assert services["podinfo-primary"]["metadata"]["annotations"] == {"note": "x"}
    assert "labels" not in services["podinfo"]["metadata"]
    assert "labels" not in services["podinfo-canary"]["metadata"]


@pytest.mark.parametrize(
    ("affinity", "max_age", "expected"),
    [
        (SessionAffinity("c"), None, "c=v; Max-Age=86400"),
        (SessionAffinity("c", 60, domain="example.com", http_only=True), None,
         "c=v; Max-Age=60; Domain=example.com; HttpOnly"),
        (SessionAffinity("c", 60, path="/api", same_site="None", secure=True, partitioned=True), None,
         "c=v; Max-Age=60; Partitioned; Path=/api; SameSite=None; Secure"),
        (SessionAffinity("c", 60, path="/api"), -1, "c=v; Max-Age=-1; Path=/api"),
    ],
)
def test_set_cookie_carries_flaggers_attributes_in_its_order(
    affinity: SessionAffinity, max_age: int | None, expected: str
) -> None:
    assert set_cookie(affinity, "c=v", max_age=max_age) == expected
