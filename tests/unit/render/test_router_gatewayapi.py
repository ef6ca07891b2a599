"""The Gateway API router: the HTTPRoute it renders (golden files), the weights it reads, what it refuses.

Golden files: ``tests/golden/podinfo-gatewayapi/<case>/httproute-podinfo.yaml``,
regenerated with ``UPDATE_GOLDEN=1`` like the Istio ones.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from gitflagger.decide.decision import Routes
from gitflagger.errors import ValidationError
from gitflagger.model.canary import Canary, SessionAffinity
from gitflagger.model.parse import parse_canary, parse_canary_yaml
from gitflagger.render import render
from gitflagger.render.routers import check_routing, router_for
from gitflagger.render.routers.gatewayapi import GatewayAPIRouter
from tests.unit.render import podinfo

GOLDEN = podinfo.ROOT / "tests" / "golden" / "podinfo-gatewayapi"
FIXTURE = podinfo.ROOT / "fixtures" / "gatewayapi" / "canary.yaml"
AB_MATCH = (
    {"headers": {"x-canary": {"exact": "insider"}}},
    {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}},
)
V1 = GatewayAPIRouter("v1")


def _canary(**analysis: Any) -> Canary:
    canary = parse_canary_yaml(FIXTURE.read_text())
    if analysis:
        changed = dataclasses.replace(canary.spec.analysis, **analysis)
        canary = dataclasses.replace(canary, spec=dataclasses.replace(canary.spec, analysis=changed))
    return canary


def _doc(**service: Any) -> dict[str, Any]:
    doc = yaml.safe_load(FIXTURE.read_text())
    doc["spec"]["service"].update(service)
    assert isinstance(doc, dict)
    return doc


CASES: dict[str, Callable[[], tuple[Canary, Routes]]] = {
    "initialized-100-0": lambda: (_canary(), Routes(100, 0)),
    "progressing-60-40": lambda: (_canary(), Routes(60, 40)),
    "ab-testing": lambda: (_canary(iterations=10, match=AB_MATCH), Routes(0, 100, match=True)),
    "mirror": lambda: (_canary(iterations=10, mirror=True, mirror_weight=50), Routes(100, 0, mirror=True)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_http_route_matches_golden_file(case: str) -> None:
    canary, routes = CASES[case]()
    decision = dataclasses.replace(podinfo.decision(), routes=routes)
    inputs = podinfo.inputs(primary_template=podinfo.target()["spec"]["template"])
    manifests = render(canary, inputs, decision)
    routing = [m for m in manifests if m.kind not in ("Service", "Deployment", "HorizontalPodAutoscaler")]
    assert [m.path for m in routing] == ["httproute-podinfo.yaml"], "one HTTPRoute, no Istio objects"
    path = GOLDEN / case / "httproute-podinfo.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(routing[0].to_yaml())
    assert routing[0].to_yaml() == path.read_text()


def test_golden_cases_cover_every_directory() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == sorted(CASES)


def test_the_weights_read_back_are_the_rendered_ones() -> None:
    for case, make in CASES.items():
        canary, routes = make()
        live = V1.http_route(canary, routes)
        assert V1.weights(live) == (routes.primary, routes.canary), case


def _rule(*backends: tuple[str, int | None]) -> dict[str, Any]:
    refs = [{"name": n, **({"weight": w} if w is not None else {})} for n, w in backends]
    return {"backendRefs": refs}


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        pytest.param([_rule(("podinfo-primary", 70), ("podinfo-canary", 30))], (70, 30), id="weighted"),
        pytest.param(
            [_rule(("podinfo-primary", 0), ("podinfo-canary", 100)), _rule(("podinfo-primary", 100))],
            (0, 100), id="ab-reads-the-rule-with-two-backends",
        ),
        pytest.param(
            [_rule(("podinfo-primary", None), ("podinfo-canary", None))], (1, 1), id="default-weight-1"
        ),
        pytest.param([_rule(("podinfo-primary", 100))], None, id="no-canary-backend"),
        pytest.param([_rule(("other-primary", 50), ("other-canary", 50))], None, id="other-services"),
        pytest.param([], None, id="no-rules"),
    ],
)
def test_weights_of_a_live_http_route(rules: list[dict[str, Any]], expected: tuple[int, int] | None) -> None:
    live = {"metadata": {"name": "podinfo"}, "spec": {"rules": rules}}
    assert V1.weights(live) == expected
    assert V1.weights(None) is None


def test_v1beta1_renders_the_same_route_at_its_own_api_version() -> None:
    spec = dataclasses.replace(_canary().spec, provider="gatewayapi:v1beta1")
    canary = dataclasses.replace(_canary(), spec=spec)
    router = check_routing(canary)
    [route] = router.manifests(canary, Routes(90, 10), ())
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1beta1"
    assert route["spec"] == V1.http_route(_canary(), Routes(90, 10))["spec"]
    assert router.live_ref(canary).api_version == "gateway.networking.k8s.io/v1beta1"


def test_matches_headers_and_timeouts_are_translated() -> None:
    doc = _doc(
        match=[{"uri": {"prefix": "/api"}, "method": {"exact": "GET"},
                "headers": {"x-b": {"regex": "b.*"}, "x-a": {"exact": "a"}},
                "queryParams": {"debug": {"exact": "1"}}}],
        headers={"request": {"set": {"x-z": "1", "x-y": "2"}, "remove": ["x-drop"]},
                 "response": {"add": {"x-served-by": "podinfo"}}},
        timeout="15s", backendTimeout="10s",
    )
    canary = parse_canary(doc)
    [rule] = V1.http_route(check_routing(canary) and canary, Routes(80, 20))["spec"]["rules"]
    assert rule["matches"] == [{
        "path": {"type": "PathPrefix", "value": "/api"},
        "method": "GET",
        "headers": [{"name": "x-a", "type": "Exact", "value": "a"},
                    {"name": "x-b", "type": "RegularExpression", "value": "b.*"}],
        "queryParams": [{"name": "debug", "type": "Exact", "value": "1"}],
    }]
    assert rule["filters"] == [
        {"type": "RequestHeaderModifier",
         "requestHeaderModifier": {"remove": ["x-drop"],
                                   "set": [{"name": "x-y", "value": "2"}, {"name": "x-z", "value": "1"}]}},
        {"type": "ResponseHeaderModifier",
         "responseHeaderModifier": {"add": [{"name": "x-served-by", "value": "podinfo"}]}},
    ]
    assert rule["timeouts"] == {"request": "15s", "backendRequest": "10s"}


def test_ab_matches_replace_the_service_matches_headers_and_keep_its_path() -> None:
    doc = _doc(match=[{"uri": {"prefix": "/api"}, "headers": {"x-own": {"exact": "1"}}}])
    doc["spec"]["analysis"].update(iterations=10, match=[{"headers": {"x-canary": {"exact": "insider"}}}])
    canary = parse_canary(doc)
    check_routing(canary)
    first, second = V1.http_route(canary, Routes(0, 100, match=True))["spec"]["rules"]
    assert first["matches"] == [{"path": {"type": "PathPrefix", "value": "/api"},
                                 "headers": [{"name": "x-canary", "type": "Exact", "value": "insider"}]}]
    assert second["matches"] == [{"path": {"type": "PathPrefix", "value": "/api"},
                                  "headers": [{"name": "x-own", "type": "Exact", "value": "1"}]}]
    assert [(b["name"], b["weight"]) for b in second["backendRefs"]] == [("podinfo-primary", 100)]


def _problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        check_routing(parse_canary(doc))
    return [str(p) for p in info.value.problems]


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = _doc()
    node = doc["spec"]
    *parents, last = path.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("service.gatewayRefs", [], "spec.service.gatewayRefs: is required with provider gatewayapi:v1"),
        ("service.gatewayRefs", [{"namespace": "x"}],
         'spec.service.gatewayRefs[0].name: must be a non-empty string, got null'),
        ("service.gatewayRefs", [{"name": "gw", "listener": "x"}],
         "spec.service.gatewayRefs[0].listener: is not a Gateway API ParentReference field"),
        ("service.gateways", ["mesh"], "spec.service.gateways: is Istio's; Gateway API routes through"),
        ("service.trafficPolicy", {"tls": {"mode": "DISABLE"}}, "spec.service.trafficPolicy: is an Istio"),
        ("service.retries", {"attempts": 3}, "spec.service.retries: is Istio's"),
        ("service.rewrite", {"uri": "/"}, "spec.service.rewrite: is not rendered for Gateway API"),
        ("service.corsPolicy", {"allowOrigin": ["*"]}, "spec.service.corsPolicy: is not rendered"),
        ("service.match", [{"sourceLabels": {"app": "x"}}],
         "spec.service.match[0].sourceLabels: has no Gateway"),
        ("service.match", [{"uri": {"suffix": ".js"}}], "spec.service.match[0].uri.suffix: has no Gateway"),
        ("service.match", [{"method": {"regex": "GET|POST"}}], "spec.service.match[0].method.regex: has no"),
        ("service.headers", {"request": {"append": {"a": "b"}}},
         "spec.service.headers.request.append: header modifiers have add, set and remove"),
        ("analysis.match", [{"uri": {"prefix": "/a"}}], "spec.analysis.match[0].uri: has no Gateway API"),
        ("analysis.sessionAffinity", {"cookieName": "c"},
         "spec.analysis.sessionAffinity: is not rendered for provider gatewayapi:v1 yet"),
        ("analysis.metrics", [{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
         "spec.analysis.metrics[0]: the built-in request-success-rate query is Istio's"),
        ("service.delegation", True,
         "spec.service.delegation: makes an Istio delegate VirtualService; provider gatewayapi:v1 renders"),
        ("service.appProtocol", "TCP",
         "spec.service.appProtocol: tcp needs a TCP route; provider gatewayapi:v1 renders an HTTPRoute"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else "",
)
def test_fields_the_router_does_not_act_on_are_refused_by_path(path: str, value: Any, expected: str) -> None:
    problems = _problems(_with(path, value))
    assert any(p.startswith(expected) for p in problems), problems


def test_a_valid_gateway_api_canary_has_no_problems() -> None:
    assert router_for("gatewayapi:v1").problems(_canary()) == []
    affinity = _canary(session_affinity=SessionAffinity("c"))
    assert [str(p) for p in V1.problems(affinity)] == [
        "spec.analysis.sessionAffinity: is not rendered for provider gatewayapi:v1 yet"
    ]


def test_render_refuses_what_the_router_cannot_do() -> None:
    canary = parse_canary(_with("service.gateways", ["mesh"]))
    with pytest.raises(ValidationError, match=r"spec\.service\.gateways"):
        render(canary, podinfo.inputs(), podinfo.decision(promote=True))




def test_service_fields_every_router_shares_are_accepted() -> None:
    """appProtocol (other than tcp), headless, trafficDistribution, unmanagedMetadata: Services only."""
    doc = _doc(
        appProtocol="kubernetes.io/h2c",
        headless=True,
        trafficDistribution="PreferClose",
        unmanagedMetadata={"labels": ["team"]},
    )
    assert V1.problems(parse_canary(doc)) == []
