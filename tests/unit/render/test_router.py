"""The Istio router objects: Services, DestinationRules and the VirtualService."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitflagger.decide.decision import Routes
from gitflagger.model.canary import Canary, ObjectMetadata, SessionAffinity
from gitflagger.render.routers.istio import destination_rules, virtual_service
from gitflagger.render.routers.services import services
from tests.unit.render import podinfo


def _canary(**service_changes: Any) -> Canary:
    base = podinfo.canary()
    service = dataclasses.replace(base.spec.service, **service_changes)
    return dataclasses.replace(base, spec=dataclasses.replace(base.spec, service=service))


def _with_analysis(canary: Canary, **changes: Any) -> Canary:
    analysis = dataclasses.replace(canary.spec.analysis, **changes)
    return dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, analysis=analysis))


def _vs_spec(canary: Canary, routes: Routes | None = None) -> dict[str, Any]:
    spec = virtual_service(canary, routes or Routes())["spec"]
    assert isinstance(spec, dict)
    return spec


@pytest.mark.parametrize(
    ("hosts", "gateways", "expected_hosts", "expected_gateways"),
    [
        pytest.param((), (), ["podinfo"], ["mesh"], id="defaults-to-mesh-and-the-apex"),
        pytest.param(
            ("app.example.com",), ("gw",), ["app.example.com", "podinfo"], ["gw"], id="no-mesh-added"
        ),
        pytest.param((), ("mesh", "gw"), ["podinfo"], ["mesh", "gw"], id="mesh-listed"),
        pytest.param(("*",), (), ["*"], ["mesh"], id="wildcard-host-covers-the-apex"),
        pytest.param(("podinfo", "a.example"), (), ["podinfo", "a.example"], ["mesh"], id="apex-listed"),
    ],
)
def test_hosts_and_gateways(
    hosts: tuple[str, ...], gateways: tuple[str, ...], expected_hosts: list[str], expected_gateways: list[str]
) -> None:
    spec = _vs_spec(_canary(hosts=hosts, gateways=gateways))
    assert spec["hosts"] == expected_hosts
    assert spec["gateways"] == expected_gateways


def test_weights_come_from_the_routes() -> None:
    [http] = _vs_spec(podinfo.canary(), Routes(70, 30))["http"]
    assert http["route"] == [
        {"destination": {"host": "podinfo-primary"}, "weight": 70},
        {"destination": {"host": "podinfo-canary"}, "weight": 30},
    ]


@given(st.integers(min_value=0, max_value=100))
def test_virtual_service_weights_always_sum_to_100(canary_weight: int) -> None:
    routes = Routes(primary=100 - canary_weight, canary=canary_weight)
    for canary in (
        podinfo.canary(),
        _with_analysis(podinfo.canary(), iterations=5, match=({"headers": {}},)),
    ):
        for http in _vs_spec(canary, routes)["http"]:
            assert sum(d["weight"] for d in http["route"]) == 100


SERVICE_BLOCKS: dict[str, Any] = {
    "match": ({"uri": {"prefix": "/api"}},),
    "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure"},
    "headers": {"request": {"add": {"x-some-header": "value"}}},
    "cors_policy": {"allowOrigins": [{"exact": "https://example.com"}], "allowMethods": ["GET"]},
    "timeout": "5s",
    "rewrite": {"uri": "/"},
}


def test_service_blocks_are_copied_into_the_route() -> None:
    [http] = _vs_spec(_canary(**SERVICE_BLOCKS))["http"]
    assert http["match"] == [{"uri": {"prefix": "/api"}}]
    assert http["retries"] == SERVICE_BLOCKS["retries"]
    assert http["headers"] == SERVICE_BLOCKS["headers"]
    assert http["corsPolicy"] == SERVICE_BLOCKS["cors_policy"]
    assert http["timeout"] == "5s"
    assert http["rewrite"] == {"uri": "/"}


def test_empty_service_blocks_are_left_out() -> None:
    [http] = _vs_spec(podinfo.canary())["http"]
    assert sorted(http) == ["route"]


def test_ab_testing_routes_matching_requests_by_weight_and_the_rest_to_the_primary() -> None:
    match = ({"headers": {"x-canary": {"exact": "insider"}}},)
    canary = _with_analysis(podinfo.canary(), iterations=10, match=match)
    assert _vs_spec(canary, Routes(0, 100))["http"] == [
        {
            "match": [{"headers": {"x-canary": {"exact": "insider"}}}],
            "route": [
                {"destination": {"host": "podinfo-primary"}, "weight": 0},
                {"destination": {"host": "podinfo-canary"}, "weight": 100},
            ],
        },
        {"route": [{"destination": {"host": "podinfo-primary"}, "weight": 100}]},
    ]


def test_ab_conditions_are_merged_with_the_service_match_like_flagger() -> None:
    """Each A/B condition times each service match; headers and sourceLabels come from the A/B side."""
    canary = _with_analysis(
        _canary(match=({"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/v2"}}), timeout="5s"),
        iterations=10,
        match=(
            {"headers": {"x-canary": {"exact": "1"}}},
            {"sourceLabels": {"app": "tester"}, "uri": {"exact": "/x"}},
        ),
    )
    first, default = _vs_spec(canary, Routes(0, 100))["http"]
    assert first["match"] == [
        {"uri": {"prefix": "/api"}, "headers": {"x-canary": {"exact": "1"}}},
        {"uri": {"prefix": "/v2"}, "headers": {"x-canary": {"exact": "1"}}},
        {"uri": {"prefix": "/api"}, "sourceLabels": {"app": "tester"}},
        {"uri": {"prefix": "/v2"}, "sourceLabels": {"app": "tester"}},
    ]
    assert default["match"] == [{"uri": {"prefix": "/api"}}, {"uri": {"prefix": "/v2"}}]
    assert first["timeout"] == default["timeout"] == "5s"


@pytest.mark.parametrize(
    ("mirror_weight", "expected_percentage"),
    [pytest.param(0, None, id="all-traffic"), pytest.param(25, {"value": 25}, id="mirror-weight")],
)
def test_mirroring(mirror_weight: int, expected_percentage: dict[str, int] | None) -> None:
    canary = _with_analysis(podinfo.canary(), iterations=10, mirror=True, mirror_weight=mirror_weight)
    [http] = _vs_spec(canary, Routes(100, 0, mirror=True))["http"]
    assert http["mirror"] == {"host": "podinfo-canary"}
    assert http.get("mirrorPercentage") == expected_percentage
    [plain] = _vs_spec(canary, Routes(100, 0))["http"]
    assert "mirror" not in plain and "mirrorPercentage" not in plain


def test_ab_testing_never_mirrors() -> None:
    canary = _with_analysis(podinfo.canary(), iterations=10, match=({"headers": {}},), mirror=True)
    assert all("mirror" not in http for http in _vs_spec(canary, Routes(100, 0, mirror=True))["http"])


STICKY = SessionAffinity("flagger-cookie", 600)


def test_sticky_route_sends_cookie_holders_to_the_canary() -> None:
    canary = _with_analysis(podinfo.canary(), session_affinity=STICKY)
    sticky, weighted = _vs_spec(canary, Routes(70, 30, sticky_cookie="flagger-cookie=AbCdEfGhIj"))["http"]
    assert sticky["name"] == "sticky-route"
    assert sticky["match"] == [{"headers": {"Cookie": {"regex": ".*flagger-cookie.*AbCdEfGhIj.*"}}}]
    assert [(d["destination"]["host"], d["weight"]) for d in sticky["route"]] == [
        ("podinfo-primary", 0),
        ("podinfo-canary", 100),
    ]
    primary, canary_dest = weighted["route"]
    assert "headers" not in primary and "name" not in weighted
    assert canary_dest["headers"] == {
        "response": {"add": {"Set-Cookie": "flagger-cookie=AbCdEfGhIj; Max-Age=600"}}
    }


def test_expired_cookie_is_matched_and_dropped() -> None:
    canary = _with_analysis(podinfo.canary(), session_affinity=STICKY)
    sticky, weighted = _vs_spec(canary, Routes(100, 0, expired_cookie="flagger-cookie=AbCdEfGhIj"))["http"]
    assert sticky["match"] == [{"headers": {"Cookie": {"regex": ".*flagger-cookie.*AbCdEfGhIj.*"}}}]
    assert sticky["headers"] == {"response": {"add": {"Set-Cookie": "flagger-cookie=AbCdEfGhIj; Max-Age=-1"}}}
    assert [d["weight"] for d in sticky["route"]] == [100, 0]
    assert all("headers" not in d for d in weighted["route"]) and "headers" not in weighted


def test_regex_metacharacters_in_the_cookie_are_escaped() -> None:
    canary = _with_analysis(podinfo.canary(), session_affinity=SessionAffinity("a.b+c", 60))
    sticky, _ = _vs_spec(canary, Routes(50, 50, sticky_cookie="a.b+c=Value"))["http"]
    assert sticky["match"][0]["headers"]["Cookie"]["regex"] == ".*a\\.b\\+c.*Value.*"


def test_service_headers_are_not_changed_by_the_expiring_route() -> None:
    headers = {"response": {"add": {"x-a": "1"}, "remove": ["x-b"]}, "request": {"set": {"x-c": "2"}}}
    canary = _with_analysis(_canary(headers=headers), session_affinity=STICKY)
    sticky, weighted = _vs_spec(canary, Routes(100, 0, expired_cookie="flagger-cookie=X"))["http"]
    assert sticky["headers"]["response"] == {
        "add": {"x-a": "1", "Set-Cookie": "flagger-cookie=X; Max-Age=-1"},
        "remove": ["x-b"],
    }
    assert sticky["headers"]["request"] == {"set": {"x-c": "2"}}
    assert weighted["headers"] == headers
    assert headers["response"]["add"] == {"x-a": "1"}


def test_session_affinity_mirrors_on_both_routes() -> None:
    canary = _with_analysis(podinfo.canary(), iterations=5, mirror=True, session_affinity=STICKY)
    http = _vs_spec(canary, Routes(100, 0, mirror=True, expired_cookie="flagger-cookie=X"))["http"]
    assert [h.get("mirror") for h in http] == [{"host": "podinfo-canary"}] * 2


def test_ab_testing_ignores_session_affinity_like_flagger() -> None:
    canary = _with_analysis(
        podinfo.canary(), iterations=10, match=({"headers": {"x": {"exact": "1"}}},), session_affinity=STICKY
    )
    http = _vs_spec(canary, Routes(0, 100, match=True, sticky_cookie="flagger-cookie=X"))["http"]
    assert all("name" not in h for h in http)
    assert "Set-Cookie" not in str(http)


def _services(canary: Canary, **kwargs: Any) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["name"]: s for s in services(canary, label="app", label_value="podinfo", **kwargs)}


def test_services_select_primary_and_canary_pods() -> None:
    by_name = _services(podinfo.canary())
    assert sorted(by_name) == ["podinfo", "podinfo-canary", "podinfo-primary"]
    assert by_name["podinfo"]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert by_name["podinfo-primary"]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert by_name["podinfo-canary"]["spec"]["selector"] == {"app": "podinfo"}
    for name, svc in by_name.items():
        assert svc["metadata"]["labels"] == {"app": name}
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["spec"]["ports"] == [{"name": "http", "port": 9898, "protocol": "TCP", "targetPort": 9898}]


@pytest.mark.parametrize(
    ("changes", "expected_port"),
    [
        pytest.param(
            {"port_name": "grpc", "target_port": 9999}, {"name": "grpc", "targetPort": 9999}, id="int"
        ),
        pytest.param({"target_port": "http"}, {"name": "http", "targetPort": "http"}, id="named"),
    ],
)
def test_service_port_name_and_target_port(changes: dict[str, Any], expected_port: dict[str, Any]) -> None:
    port = _services(_canary(**changes))["podinfo"]["spec"]["ports"][0]
    assert port == {"port": 9898, "protocol": "TCP", **expected_port}


def test_service_metadata_from_apex_primary_and_canary() -> None:
    canary = _canary(
        name="web",
        apex=ObjectMetadata(labels={"tier": "edge"}, annotations={"a": "apex"}),
        primary=ObjectMetadata(annotations={"a": "primary"}),
        canary=ObjectMetadata(labels={"app": "overridden"}),
    )
    by_name = _services(canary)
    assert by_name["web"]["metadata"]["labels"] == {"tier": "edge", "app": "web"}
    assert by_name["web"]["metadata"]["annotations"] == {"a": "apex"}
    assert by_name["web-primary"]["metadata"]["annotations"] == {"a": "primary"}
    assert by_name["web-canary"]["metadata"]["labels"] == {"app": "web-canary"}
    vs_meta = virtual_service(canary, Routes())["metadata"]
    assert (vs_meta["name"], vs_meta["labels"], vs_meta["annotations"]) == (
        "web",
        {"tier": "edge"},
        {"a": "apex"},
    )


def test_port_discovery_adds_container_ports_and_pins_the_destination_port() -> None:
    containers = [
        {"name": "app", "ports": [{"name": "http", "containerPort": 9898}, {"containerPort": 9797}]},
        {"name": "istio-proxy", "ports": [{"name": "http-envoy-prom", "containerPort": 15090}]},
        {"name": "sidecar", "ports": [{"name": "admin", "containerPort": 8080}]},
    ]
    canary = _canary(port_discovery=True, gateways=("public-gateway", "mesh"))
    ports = _services(canary, containers=containers)["podinfo"]["spec"]["ports"]
    assert ports == [
        {"name": "http", "port": 9898, "protocol": "TCP", "targetPort": 9898},
        {"name": "admin", "port": 8080, "protocol": "TCP", "targetPort": 8080},
        {"name": "tcp-app-1", "port": 9797, "protocol": "TCP", "targetPort": 9797},
    ]
    [http] = _vs_spec(canary)["http"]
    assert all(d["destination"]["port"] == {"number": 9898} for d in http["route"])
    [mesh_first] = _vs_spec(_canary(port_discovery=True, gateways=("mesh", "gw")))["http"]
    assert all("port" not in d["destination"] for d in mesh_first["route"])


def test_destination_rules_carry_the_traffic_policy() -> None:
    rules = destination_rules(podinfo.canary())
    assert [(r["metadata"]["name"], r["spec"]) for r in rules] == [
        ("podinfo-canary", {"host": "podinfo-canary", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}),
        ("podinfo-primary", {"host": "podinfo-primary", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}),
    ]
    assert [r["spec"] for r in destination_rules(_canary(traffic_policy=None))] == [
        {"host": "podinfo-canary"},
        {"host": "podinfo-primary"},
    ]
    assert {r["apiVersion"] for r in rules} == {"networking.istio.io/v1beta1"}
