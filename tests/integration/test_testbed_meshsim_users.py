"""The mesh simulator's users (cookie jars, A/B senders) and the metrics of what it routed; no cluster.

The routing tables are shaped as gitflagger renders them for Flagger's A/B,
mirroring and session-affinity analyses (gitflagger/render/routers/istio.py);
the testbed tests route the rendered objects themselves.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.testbed.loadgen import CookieJar, LoadProfile
from tests.testbed.meshsim import PODINFO, Fault, MeshSim, Route, StaticRoutes

NS = "users"
WORKLOADS = {
    "podinfo-primary": ("podinfo-primary", f"{PODINFO}:6.0.0"),
    "podinfo-canary": ("podinfo", f"{PODINFO}:6.0.1"),
}


def sim_with(http: list[dict[str, Any]], profile: LoadProfile | None = None) -> MeshSim:
    source = StaticRoutes()
    source.set_http(NS, "podinfo", http, WORKLOADS)
    sim = MeshSim(source, faults={f"{PODINFO}:6.0.1": Fault(error_rate=0.5)}, rate=100.0)
    if profile is not None:
        sim.set_profile(NS, profile)
    sim._refresh()
    return sim


def run(sim: MeshSim, seconds: float, start: float = 0.0) -> float:
    now = start
    for _ in range(int(seconds * 10)):
        now += 0.1
        sim.generate(0.1, now)
    return now


def exported(sim: MeshSim, workload: str) -> float:
    """istio_requests_total summed over response codes, as Prometheus would scrape it."""
    total = 0.0
    for family in sim.registry.collect():
        for s in family.samples:
            if s.name == "istio_requests_total" and s.labels["destination_workload"] == workload:
                total += s.value
    return total


def dest(host: str, weight: int, **extra: Any) -> dict[str, Any]:
    return {"destination": {"host": host}, "weight": weight, **extra}


# ---- the cookie jar -----------------------------------------------------------------------


def test_cookie_jar_keeps_sends_expires_and_drops_cookies_like_a_browser() -> None:
    jar = CookieJar()
    jar.store("flagger-cookie=abcDEF; Max-Age=60", now=100.0)
    jar.store("canary=always", now=100.0)
    assert jar.header(now=159.0) == "flagger-cookie=abcDEF; canary=always"
    assert jar.header(now=160.5) == "canary=always", "Max-Age counts seconds from when it was set"
    jar.store("flagger-cookie=xyz; Max-Age=60", now=200.0)
    jar.store("flagger-cookie=xyz; Max-Age=-1", now=201.0)  # Flagger's way of telling clients to drop it
    assert jar.get("flagger-cookie") is None
    jar.store("broken; Max-Age=5", now=0.0)  # no name=value pair: ignored, as RFC 6265 5.2 says
    jar.store("a=b; Max-Age=soon", now=0.0)  # an unparsable Max-Age is ignored (RFC 6265 5.2.2)
    assert jar.header(now=1e9) == "canary=always; a=b"


# ---- routed traffic ------------------------------------------------------------------------

AB = [  # the tutorial's A/B match: the x-canary header or the canary=always cookie
    {"match": [{"headers": {"x-canary": {"regex": ".*insider.*"}}},
               {"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}],
     "route": [dest("podinfo-primary", 0), dest("podinfo-canary", 100)]},
    {"route": [dest("podinfo-primary", 100)]},
]


def test_ab_only_matched_users_reach_the_canary_and_the_metrics_count_what_was_routed() -> None:
    sim = sim_with(AB)
    run(sim, 10)
    led = sim.ledger(NS)
    assert led.to("podinfo", "plain") == 0 and led.to("podinfo-primary", "plain") > 400
    assert led.to("podinfo", "ab-header") > 150 and led.to("podinfo-primary", "ab-header") == 0
    assert led.to("podinfo", "ab-cookie") > 150 and led.to("podinfo-primary", "ab-cookie") == 0
    assert sum(led.answered.values()) == 1000
    assert exported(sim, "podinfo") == led.to("podinfo")
    assert exported(sim, "podinfo-primary") == led.to("podinfo-primary")


def test_without_ab_users_nobody_reaches_the_canary() -> None:
    sim = sim_with(AB, LoadProfile(ab_users=False))
    run(sim, 5)
    assert sim.ledger(NS).to("podinfo") == 0 and exported(sim, "podinfo") == 0


@pytest.mark.parametrize(("percent", "copies"), [(None, 1000), (50.0, 500), (10.0, 100)])
def test_mirror_copies_reach_the_canary_and_users_get_the_primary(percent: float | None, copies: int) -> None:
    route: dict[str, Any] = {"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)],
                             "mirror": {"host": "podinfo-canary"}}
    if percent is not None:
        route["mirrorPercentage"] = {"value": percent}
    sim = sim_with([route])
    run(sim, 10)
    led = sim.ledger(NS)
    assert led.to("podinfo") == 0, "a mirrored answer never reaches a user"
    assert led.to("podinfo-primary") == 1000
    assert led.mirrored == {"podinfo": copies}
    assert exported(sim, "podinfo") == copies, "the mirror's workload reports the copies it served"


def sticky(cookie: str, canary: int, max_age: int = 3600) -> list[dict[str, Any]]:
    """gitflagger's sticky-route and weighted route while the canary has weight."""
    set_cookie = {"response": {"add": {"Set-Cookie": f"{cookie}; Max-Age={max_age}"}}}
    name, _, value = cookie.partition("=")
    return [
        {"name": "sticky-route", "match": [{"headers": {"Cookie": {"regex": f".*{name}.*{value}.*"}}}],
         "route": [dest("podinfo-primary", 0), dest("podinfo-canary", 100)]},
        {"route": [dest("podinfo-primary", 100 - canary),
                   dest("podinfo-canary", canary, headers=set_cookie)]},
    ]


def test_session_affinity_pins_users_who_hit_the_canary_and_releases_them() -> None:
    sim = sim_with(sticky("flagger-cookie=abcDEFghij", canary=10), LoadProfile(users=40, ab_users=False))
    now = run(sim, 3)
    led = sim.ledger(NS)
    pinned = [u for u in led.users if u.jar.get("flagger-cookie") == "abcDEFghij"]
    assert pinned and len(pinned) < len(led.users), "some users, not all, hit the canary and got the cookie"
    stays = [u.pinned("flagger-cookie") for u in pinned]
    assert all(set(s) == {"podinfo"} for s in stays if s), "a pinned user stays on the canary"
    assert sum(sum(s.values()) for s in stays) > 50
    free = [u for u in led.users if u not in pinned]
    assert all(not u.held for u in free)

    # Rollback: the canary is at 0 and the sticky route tells the cookie's holders to drop it.
    released = sticky("flagger-cookie=abcDEFghij", canary=0, max_age=-1)
    released[0]["route"] = [dest("podinfo-primary", 100), dest("podinfo-canary", 0)]
    released[0]["headers"] = released[1]["route"][1].pop("headers")
    sim.source.set_http(NS, "podinfo", released, WORKLOADS)  # type: ignore[attr-defined]
    sim._refresh()
    run(sim, 3, start=now)
    after = sim.ledger(NS)
    assert not any(u.jar.get("flagger-cookie") for u in after.users), "every holder was told to drop it"
    assert after.to("podinfo") == led.to("podinfo"), "nobody reached the canary after the rollback"


def test_direct_calls_reach_a_service_without_the_virtualservice() -> None:
    """Blue/green: the load tester calls podinfo-canary itself while users stay on the primary."""
    sim = sim_with([{"route": [dest("podinfo-primary", 100), dest("podinfo-canary", 0)]}],
                   LoadProfile(direct=("podinfo-canary",), direct_rate=30.0))
    run(sim, 10)
    led = sim.ledger(NS)
    assert led.to("podinfo") == 0 and led.direct == {"podinfo": 300}
    assert exported(sim, "podinfo") == 300


def test_a_virtualservice_that_cannot_be_routed_gets_no_traffic_and_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    class Refused:
        def routes(self) -> list[Route]:
            return [Route(NS, "podinfo", (), error="VirtualService users/podinfo: spec.http[0].redirect: x")]

    sim = MeshSim(Refused(), rate=100.0)
    sim._refresh()
    sim._refresh()
    run(sim, 1)
    assert sim.route_errors == ["VirtualService users/podinfo: spec.http[0].redirect: x"]
    assert capsys.readouterr().err.count("spec.http[0].redirect") == 1, "said once"
    assert sum(sim.ledger(NS).answered.values()) == 0
