"""Session affinity: the sticky cookie a rollout uses, as Flagger's Istio router keeps it in status."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitflagger.decide.affinity import cookie_value, settle, split_cookie
from gitflagger.decide.weights import current_routes
from gitflagger.model.canary import SessionAffinity
from gitflagger.model.status import Phase, State
from tests.unit.decide.builders import (
    NEW,
    canary,
    good_metrics,
    in_flight,
    observe,
    settled,
    steps,
    walk,
)

AFFINITY = SessionAffinity("flagger-cookie", 3600)
SEED = "uid/sha256:2222"
FRESH = f"flagger-cookie={cookie_value(SEED + '/flagger-cookie/')}"
OLD = "flagger-cookie=OldOldOldO"
OTHER = "flagger-cookie=CurrentXYZ"


@pytest.mark.parametrize(
    ("case", "cookie", "previous", "weight", "want_cookie", "want_previous"),
    [
        ("canary gets traffic: a cookie is drawn", "", "", 10, FRESH, ""),
        ("the cookie is kept while the canary has weight", OTHER, "", 40, OTHER, ""),
        ("the old cookie stays previous while a new one is used", OTHER, OLD, 40, OTHER, OLD),
        ("weight back to 0: the cookie becomes the previous one", OTHER, OLD, 0, "", OTHER),
        ("weight 0 and no cookie: nothing changes", "", OLD, 0, "", OLD),
        ("weight 0 before any rollout: nothing at all", "", "", 0, "", ""),
        ("a hand-edited cookie without a value is replaced", "garbage", "", 10, FRESH, ""),
        ("a hand-edited cookie is dropped, never made previous", "garbage", OLD, 0, "", OLD),
    ],
)
def test_settle(
    case: str, cookie: str, previous: str, weight: int, want_cookie: str, want_previous: str
) -> None:
    state = State(session_affinity_cookie=cookie, previous_session_affinity_cookie=previous)
    after = settle(AFFINITY, state, weight, SEED)
    assert (after.session_affinity_cookie, after.previous_session_affinity_cookie) == (
        want_cookie,
        want_previous,
    ), case


def test_without_session_affinity_the_state_is_untouched() -> None:
    state = State(session_affinity_cookie=OTHER)
    assert settle(None, state, 0, SEED) is state
    assert settle(None, State(), 50, SEED) == State()


def test_a_retry_of_the_same_revision_gets_a_fresh_cookie() -> None:
    first = settle(AFFINITY, State(), 10, SEED)
    retired = settle(AFFINITY, first, 0, SEED)
    again = settle(AFFINITY, retired, 10, SEED)
    assert again.session_affinity_cookie != first.session_affinity_cookie
    assert again.previous_session_affinity_cookie == first.session_affinity_cookie


@given(st.text(max_size=40))
def test_cookie_values_are_ten_letters_and_a_pure_function_of_the_seed(seed: str) -> None:
    value = cookie_value(seed)
    assert re.fullmatch(r"[A-Za-z]{10}", value)
    assert cookie_value(seed) == value


@pytest.mark.parametrize(
    ("text", "want"),
    [("c=abc", ("c", "abc")), ("", None), ("c", None), ("=abc", None), ("c=", None), ("c=a=b", None)],
)
def test_split_cookie(text: str, want: tuple[str, str] | None) -> None:
    assert split_cookie(text) == want


def test_routes_carry_the_cookie_for_the_weights() -> None:
    analysis = canary(session_affinity=AFFINITY).spec.analysis
    live = in_flight(weight=20).evolve(session_affinity_cookie=OTHER, previous_session_affinity_cookie=OLD)
    routes = current_routes(analysis, live)
    assert (routes.sticky_cookie, routes.expired_cookie) == (OTHER, "")
    done = settled().evolve(previous_session_affinity_cookie=OTHER)
    routes = current_routes(analysis, done)
    assert (routes.canary, routes.sticky_cookie, routes.expired_cookie) == (0, "", OTHER)
    plain = current_routes(canary().spec.analysis, live)
    assert (plain.sticky_cookie, plain.expired_cookie) == ("", "")


def test_a_rollout_draws_one_cookie_and_expires_it_at_promotion() -> None:
    spec = canary(session_affinity=AFFINITY, max_weight=20)
    start = in_flight(weight=0)
    decisions = walk(spec, start, steps(5, metrics=good_metrics()))
    phases = [(d.state.phase, d.routes.canary) for d in decisions]
    cookies = {d.state.session_affinity_cookie for d in decisions if d.routes.canary > 0}
    assert len(cookies) == 1 and next(iter(cookies)).startswith("flagger-cookie="), phases
    cookie = next(iter(cookies))
    for d in decisions:
        if d.routes.canary > 0:
            assert d.routes.sticky_cookie == cookie
    last = decisions[-1]
    assert last.routes.canary == 0, phases
    assert last.state.session_affinity_cookie == ""
    assert last.state.previous_session_affinity_cookie == cookie
    assert last.routes.expired_cookie == cookie


def test_a_rollback_expires_the_cookie_too() -> None:
    spec = canary(session_affinity=AFFINITY, threshold=1)
    live = in_flight(weight=10).evolve(session_affinity_cookie=OTHER)
    decision = walk(spec, live, [observe(metrics={}), observe(at=60, metrics={})])[-1]
    assert decision.state.phase is Phase.FAILED
    assert decision.state.session_affinity_cookie == ""
    assert decision.state.previous_session_affinity_cookie == OTHER
    assert decision.routes.expired_cookie == OTHER


def test_the_same_step_decides_the_same_cookie() -> None:
    spec = canary(session_affinity=AFFINITY)
    live = in_flight(weight=0)
    first = walk(spec, live, [observe(revision=NEW)])[-1]
    again = walk(spec, live, [observe(revision=NEW)])[-1]
    assert first.routes.canary > 0
    assert first.state.session_affinity_cookie == again.state.session_affinity_cookie != ""


@given(st.lists(st.integers(min_value=0, max_value=100), max_size=30), st.text(max_size=8))
def test_cookie_bookkeeping_invariants(weights: list[int], seed: str) -> None:
    """Over any run of weights: one cookie per stretch of traffic, retired when the weight drops to 0."""
    state = State()
    drawn: list[str] = []
    for weight in weights:
        before = state
        state = settle(AFFINITY, state, weight, seed)
        if weight > 0:
            assert split_cookie(state.session_affinity_cookie) is not None
            if before.session_affinity_cookie:
                assert state.session_affinity_cookie == before.session_affinity_cookie
            else:
                drawn.append(state.session_affinity_cookie)
                assert state.session_affinity_cookie != before.previous_session_affinity_cookie
        else:
            assert state.session_affinity_cookie == ""
            assert state.previous_session_affinity_cookie in ("", *drawn)
    assert all(a != b for a, b in pairwise(drawn)), "a new rollout reused the last cookie"


PRIMARY = SessionAffinity("flagger-cookie", 3600, primary_cookie_name="flagger-primary")


def test_the_primary_cookie_is_drawn_with_the_canary_cookie_and_kept_like_flaggers() -> None:
    """Drawn when the canary first gets traffic; it stays in status after the rollout, as in Flagger."""
    first = settle(PRIMARY, State(), 10, SEED)
    primary = first.primary_session_affinity_cookie
    assert re.fullmatch(r"flagger-primary=[A-Za-z]{10}", primary)
    assert settle(PRIMARY, first, 30, SEED).primary_session_affinity_cookie == primary
    after = settle(PRIMARY, first, 0, SEED)
    assert after.primary_session_affinity_cookie == primary
    assert settle(PRIMARY, after, 10, "uid/sha256:3333").primary_session_affinity_cookie == primary
    renamed = settle(SessionAffinity("flagger-cookie", primary_cookie_name="other"), after, 10, SEED)
    assert renamed.primary_session_affinity_cookie.startswith("other=")
    assert settle(AFFINITY, State(), 10, SEED).primary_session_affinity_cookie == ""


def test_routes_carry_the_primary_cookie_only_while_the_canary_has_weight() -> None:
    analysis = canary(session_affinity=PRIMARY).spec.analysis
    state = settle(PRIMARY, State(phase=Phase.PROGRESSING, canary_weight=20), 20, SEED)
    routes = current_routes(analysis, state)
    assert routes.primary_cookie == state.primary_session_affinity_cookie != ""
    assert routes.sticky_cookie == state.session_affinity_cookie
    done = settle(PRIMARY, state.evolve(phase=Phase.SUCCEEDED, canary_weight=0), 0, SEED)
    assert current_routes(analysis, done).primary_cookie == ""
