"""Table tests: the mesh simulator routes requests by the rules of Istio's VirtualService reference.

Each row names the section of istio.io/latest/docs/reference/config/networking/virtual-service/
it checks and says the rule in our words. No cluster: the routing module is pure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from tests.testbed.istio_routing import Request, UnsupportedRoute, parse_http, route_request

REF = "istio.io/latest/docs/reference/config/networking/virtual-service/"


def req(path: str = "/", method: str = "GET", **headers: str) -> Request:
    pairs = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Request(path=path, method=method, headers=pairs)


def to(host: str, weight: int | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"destination": {"host": host}, **extra}
    if weight is not None:
        out["weight"] = weight
    return out


def answer(http: Sequence[Mapping[str, Any]], request: Request, ticket: float = 0.0, mirror: float = 0.0
           ) -> tuple[str | None, str | None]:
    """(answering host, mirror host) for one request with fixed tickets."""
    routed = route_request(parse_http(http), request, lambda _i, p: mirror if p == "mirror" else ticket)
    return (routed.host, routed.mirror) if routed else (None, None)


CANARY_IF = [  # route 0 to the canary when the match holds, else route 1 to the primary
    ("#VirtualService (http): routes are tried in order; the first that matches is used",
     [{"match": [{"uri": {"prefix": "/"}}], "route": [to("first")]}, {"route": [to("second")]}],
     req(), "first"),
    ("#HTTPRoute (match): a route without match blocks matches every request",
     [{"route": [to("all")]}], req("/anything", x_any="1"), "all"),
    ("#HTTPRoute (match): conditions in one block are ANDed (header holds, uri does not)",
     [{"match": [{"headers": {"x-canary": {"exact": "insider"}}, "uri": {"prefix": "/api"}}],
       "route": [to("canary")]}, {"route": [to("primary")]}],
     req("/web", x_canary="insider"), "primary"),
    ("#HTTPRoute (match): conditions in one block are ANDed (both hold)",
     [{"match": [{"headers": {"x-canary": {"exact": "insider"}}, "uri": {"prefix": "/api"}}],
       "route": [to("canary")]}, {"route": [to("primary")]}],
     req("/api/v1", x_canary="insider"), "canary"),
    ("#HTTPRoute (match): blocks are ORed (the second block holds)",
     [{"match": [{"headers": {"x-canary": {"exact": "insider"}}}, {"headers": {"x-beta": {}}}],
       "route": [to("canary")]}, {"route": [to("primary")]}],
     req(x_beta="yes"), "canary"),
    ("#HTTPMatchRequest (headers): header names compare case-insensitively, as in HTTP",
     [{"match": [{"headers": {"x-canary": {"exact": "insider"}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req(X_Canary="insider"), "canary"),
    ("#HTTPMatchRequest (headers): Flagger's capitalised Cookie key matches a lowercase cookie header",
     [{"match": [{"headers": {"Cookie": {"regex": ".*flagger-cookie.*abcDEF.*"}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req(cookie="a=b; flagger-cookie=abcDEF"), "canary"),
    ("#StringMatch: values are case-sensitive",
     [{"match": [{"headers": {"x-canary": {"exact": "insider"}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req(x_canary="Insider"), "primary"),
    ("#HTTPMatchRequest (headers): an empty match only asks for the header's presence",
     [{"match": [{"headers": {"x-canary": {}}}], "route": [to("canary")]}, {"route": [to("primary")]}],
     req(x_canary=""), "canary"),
    ("#HTTPMatchRequest (headers): an absent header never matches, not even a prefix ''",
     [{"match": [{"headers": {"x-canary": {"prefix": ""}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req(), "primary"),
    ("#StringMatch (prefix)",
     [{"match": [{"headers": {"user-agent": {"prefix": "Mozilla/5.0"}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req(user_agent="Mozilla/5.0 (X11) Firefox/120"), "canary"),
    ("#StringMatch (regex): the pattern must match the whole value (RE2 full match)",
     [{"match": [{"headers": {"x-canary": {"regex": "insider"}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req(x_canary="an insider"), "primary"),
    ("#StringMatch (regex): Flagger's tutorial cookie regex, canary=always among other cookies",
     [{"match": [{"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}],
       "route": [to("canary")]}, {"route": [to("primary")]}],
     req(cookie="session=1;canary=always;x=y"), "canary"),
    ("#StringMatch (regex): ... and not a cookie that merely contains it",
     [{"match": [{"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}],
       "route": [to("canary")]}, {"route": [to("primary")]}],
     req(cookie="nocanary=always"), "primary"),
    ("#HTTPMatchRequest (uri): exact",
     [{"match": [{"uri": {"exact": "/api"}}], "route": [to("canary")]}, {"route": [to("primary")]}],
     req("/api/"), "primary"),
    ("#HTTPMatchRequest (uri): the query string is not part of the path",
     [{"match": [{"uri": {"exact": "/api"}}], "route": [to("canary")]}, {"route": [to("primary")]}],
     req("/api?x=1"), "canary"),
    ("#HTTPMatchRequest (ignoreUriCase): exact and prefix ignore case",
     [{"match": [{"uri": {"prefix": "/API"}, "ignoreUriCase": True}], "route": [to("canary")]},
      {"route": [to("primary")]}], req("/api/v1"), "canary"),
    ("#HTTPMatchRequest (ignoreUriCase): ... a regex does not",
     [{"match": [{"uri": {"regex": "/API.*"}, "ignoreUriCase": True}], "route": [to("canary")]},
      {"route": [to("primary")]}], req("/api/v1"), "primary"),
    ("#HTTPMatchRequest (withoutHeaders): a matching header makes the block fail",
     [{"match": [{"withoutHeaders": {"x-canary": {}}}], "route": [to("primary")]},
      {"route": [to("canary")]}], req(x_canary="insider"), "canary"),
    ("#HTTPMatchRequest (queryParams): ?key=value matched exactly",
     [{"match": [{"queryParams": {"canary": {"exact": "true"}}}], "route": [to("canary")]},
      {"route": [to("primary")]}], req("/?canary=true"), "canary"),
    ("#HTTPMatchRequest (method): methods are case-sensitive",
     [{"match": [{"method": {"exact": "post"}}], "route": [to("canary")]}, {"route": [to("primary")]}],
     req(method="POST"), "primary"),
    ("#VirtualService (http): a request no route matches is not routed",
     [{"match": [{"uri": {"prefix": "/api"}}], "route": [to("canary")]}], req("/web"), None),
]


@pytest.mark.parametrize(("rule", "http", "request_", "host"), CANARY_IF, ids=[r[0] for r in CANARY_IF])
def test_matching_follows_the_virtualservice_reference(
    rule: str, http: list[Mapping[str, Any]], request_: Request, host: str | None
) -> None:
    assert answer(http, request_)[0] == host, f"{REF}{rule}"


WEIGHTED = [to("primary", 90), to("canary", 10)]


@pytest.mark.parametrize(("rule", "http", "ticket", "host"), [
    ("#HTTPRouteDestination (weight): tickets below 90% go to the 90 destination",
     [{"route": WEIGHTED}], 0.899, "primary"),
    ("#HTTPRouteDestination (weight): the last 10% go to the 10 destination",
     [{"route": WEIGHTED}], 0.9, "canary"),
    ("#HTTPRouteDestination (weight): a lone destination takes everything, weight or not",
     [{"route": [to("primary")]}], 0.99, "primary"),
    ("#HTTPRouteDestination (weight): a 0 weight gets nothing",
     [{"route": [to("p", 100), to("c", 0)]}], 0.999, "p"),
    ("#HTTPRouteDestination (weight): all weights 0, nowhere to go",
     [{"route": [to("p", 0), to("c", 0)]}], 0.5, None),
], ids=lambda v: v if isinstance(v, str) and v.startswith("#") else "")
def test_weights(rule: str, http: Sequence[Mapping[str, Any]], ticket: float, host: str | None) -> None:
    assert answer(http, req(), ticket=ticket)[0] == host, f"{REF}{rule}"


def test_mirror_percentage_and_the_answer_stays_with_the_route() -> None:
    """#HTTPRoute (mirror, mirrorPercentage): a copy goes to the mirror; absent a percentage, every
    request is copied; the request itself is still answered by the route's destination."""
    everything = [{"route": [to("primary", 100), to("canary", 0)], "mirror": {"host": "canary"}}]
    assert answer(everything, req(), mirror=0.999) == ("primary", "canary")
    quarter = [{**everything[0], "mirrorPercentage": {"value": 25.0}}]
    assert answer(quarter, req(), mirror=0.2499) == ("primary", "canary")
    assert answer(quarter, req(), mirror=0.25) == ("primary", None)


def test_response_headers_of_the_route_and_of_the_chosen_destination() -> None:
    """#Headers: ``response`` operations of the route and of the chosen destination reach the client;
    this is how Flagger's session affinity hands out its cookie (on the canary destination only)."""
    http = [{"headers": {"response": {"add": {"x-route": "1"}}}, "route": [
        to("primary", 50),
        to("canary", 50, headers={"response": {"add": {"Set-Cookie": "flagger-cookie=abc; Max-Age=60"}}}),
    ]}]
    routes = parse_http(http)
    canary = route_request(routes, req(), lambda _i, _p: 0.75)
    primary = route_request(routes, req(), lambda _i, _p: 0.25)
    assert canary is not None and primary is not None
    assert canary.response_headers == (("Set-Cookie", "flagger-cookie=abc; Max-Age=60"), ("x-route", "1"))
    assert primary.response_headers == (("x-route", "1"),)
    replaced = parse_http([{"headers": {"response": {"set": {"x-a": "route"}}}, "route": [
        to("p", headers={"response": {"add": {"x-a": "dest"}}})]}])
    only = route_request(replaced, req(), lambda _i, _p: 0.0)
    assert only is not None and only.response_headers == (("x-a", "route"),)


@pytest.mark.parametrize(("http", "error"), [
    ([{"match": [{"sourceLabels": {"app": "x"}}], "route": [to("p")]}], "spec.http[0].match[0].sourceLabels"),
    ([{"match": [{"gateways": ["mesh"]}], "route": [to("p")]}], "spec.http[0].match[0].gateways"),
    ([{"redirect": {"uri": "/x"}}], "spec.http[0].redirect"),
    ([{"route": [to("p")]}, {"delegate": {"name": "d"}}], "spec.http[1].delegate"),
    ([{"route": [{"destination": {"host": "p", "subset": "v1"}}]}],
     "spec.http[0].route[0].destination.subset"),
    ([{"route": [to("p")], "mirrorPercentage": {"value": 150}}], "spec.http[0].mirrorPercentage.value"),
    ([{"match": [{"headers": {"x": {"exact": "a", "prefix": "b"}}}], "route": [to("p")]}],
     "spec.http[0].match[0].headers.x"),
    ([{"match": [{"uri": {"regex": "("}}], "route": [to("p")]}], "spec.http[0].match[0].uri.regex"),
    ([{"match": [{"uri": {"suffix": "x"}}], "route": [to("p")]}], "spec.http[0].match[0].uri.suffix"),
    ([{"route": []}], "spec.http[0].route"),
    ([{"route": [to("p")], "fault": {"abort": {}}}], "spec.http[0].fault"),
])
def test_what_cannot_be_routed_is_refused_by_path(http: list[Any], error: str) -> None:
    with pytest.raises(UnsupportedRoute) as err:
        parse_http(http)
    assert str(err.value).startswith(error + ":"), err.value


def test_shaping_fields_that_do_not_change_the_destination_are_accepted() -> None:
    routes = parse_http([{"name": "r", "rewrite": {"uri": "/"}, "timeout": "5s", "retries": {"attempts": 3},
                          "corsPolicy": {}, "headers": {"request": {"set": {"a": "b"}}}, "route": [to("p")]}])
    assert route_request(routes, req(), lambda _i, _p: 0.0) is not None
