"""Traffic weights: how far the next step goes, and what the routes are now.

Flagger reads the live weights back from the VirtualService on every pass
(``meshRouter.GetRoutes``). gitflagger's config repo is the source of truth
instead, so the current routes are *derived* from the recorded :class:`State`
by :func:`current_routes`: the state always holds enough to say where traffic
goes, and the decision core never needs a cluster to know it.

State conventions that make this possible (and differ slightly from Flagger's
status, which resets ``canaryWeight`` on every phase change):

- canary strategy: ``canary_weight`` is the canary's live weight in every
  in-flight phase, WaitingPromotion and Promoting included;
- A/B testing: matched requests go to the canary once ``iterations > 0``;
  ``canary_weight`` stays 0 as in Flagger, except during a stepwise promotion
  (``stepWeightPromotion``), where it holds the canary's remaining weight;
- blue/green: traffic mirrors once the first iteration ran (with ``mirror``),
  and switches fully to the canary once ``iterations`` passes the spec's count.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

from gitflagger.decide.affinity import split_cookie
from gitflagger.decide.decision import Routes
from gitflagger.model.canary import Analysis, Strategy
from gitflagger.model.status import Phase, State

TOTAL_WEIGHT = 100
"""Flagger's ``totalWeight``: weights are percentages."""

ALL_PRIMARY = Routes(TOTAL_WEIGHT, 0)

_ROUTED_PHASES = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING})
"""Phases in which the canary may receive traffic. Finalising has already routed back."""


def max_weight(analysis: Analysis) -> int:
    """The weight at which promotion starts (Flagger's ``maxWeight``).

    With ``stepWeights`` it is the last entry (never above 100), whatever
    ``maxWeight`` says; otherwise ``maxWeight``, defaulting to 100.

    >>> max_weight(Analysis(step_weights=(1, 5, 25, 80), max_weight=50))
    80
    """
    if analysis.step_weights:
        return min(TOTAL_WEIGHT, analysis.step_weights[-1])
    return analysis.max_weight if analysis.max_weight > 0 else TOTAL_WEIGHT


def next_step(analysis: Analysis, weight: int) -> int:
    """How much weight the next advance adds (Flagger's ``nextStepWeight``).

    ``stepWeight`` wins when set. With ``stepWeights`` the step goes to the next
    entry above the current weight; a weight that is not in the list (the spec
    changed mid-analysis) jumps straight to 100 - weight, as in Flagger. Zero
    means "no progressive strategy": nothing advances.

    >>> next_step(Analysis(step_weights=(1, 5, 25)), 0), next_step(Analysis(step_weights=(1, 5, 25)), 5)
    (1, 20)
    """
    if analysis.step_weight > 0 or not analysis.step_weights:
        return analysis.step_weight
    headroom = TOTAL_WEIGHT - weight
    if headroom == 0:
        return 1  # already at 100: any positive step moves on to promotion
    steps = analysis.step_weights
    if weight == 0:
        return min(headroom, steps[0])
    for current, following in pairwise(steps):
        if current == weight:
            return min(headroom, following - weight)
    return headroom


def advanced_weight(analysis: Analysis, weight: int) -> int:
    """The canary weight after one advance, never above :func:`max_weight`.

    Flagger adds the step without a cap (stepWeight 20, maxWeight 50 gives 20, 40,
    60); gitflagger stops at maxWeight so the canary never takes more traffic than
    the spec allows. The number of steps before promotion is the same.

    >>> [advanced_weight(Analysis(step_weight=20, max_weight=50), w) for w in (0, 20, 40)]
    [20, 40, 50]
    """
    return min(weight + next_step(analysis, weight), max_weight(analysis), TOTAL_WEIGHT)


def current_routes(analysis: Analysis, state: State) -> Routes:
    """Where traffic goes right now, derived from the recorded state (see module docstring).

    With ``sessionAffinity`` the routes also carry the state's cookies: the
    rollout's sticky cookie while the canary has weight, else the previous
    rollout's cookie, to be expired (see :mod:`gitflagger.decide.affinity`).
    """
    routes = _weighted_routes(analysis, state)
    if analysis.session_affinity is None:
        return routes
    if routes.canary > 0:
        cookie = state.session_affinity_cookie
        if not split_cookie(cookie):
            return routes
        routes = replace(routes, sticky_cookie=cookie)
        primary = state.primary_session_affinity_cookie
        wanted = analysis.session_affinity.primary_cookie_name
        named = split_cookie(primary)
        return replace(routes, primary_cookie=primary) if named and named[0] == wanted else routes
    previous = state.previous_session_affinity_cookie
    return replace(routes, expired_cookie=previous) if split_cookie(previous) else routes


def _weighted_routes(analysis: Analysis, state: State) -> Routes:
    if state.phase not in _ROUTED_PHASES:
        return ALL_PRIMARY
    strategy = analysis.strategy
    if strategy is Strategy.CANARY:
        weight = _clamp(state.canary_weight)
        return Routes(TOTAL_WEIGHT - weight, weight, mirror=state.mirrored and weight == 0)
    if state.phase is Phase.PROMOTING and state.canary_weight > 0:
        weight = _clamp(state.canary_weight)  # a stepwise promotion is under way
        return Routes(TOTAL_WEIGHT - weight, weight, match=strategy is Strategy.AB_TESTING)
    if strategy is Strategy.AB_TESTING:
        return Routes(0, TOTAL_WEIGHT, match=True) if state.iterations > 0 else ALL_PRIMARY
    # blue/green
    if state.iterations > analysis.iterations:
        return Routes(0, TOTAL_WEIGHT)
    return Routes(TOTAL_WEIGHT, 0, mirror=state.mirrored)


def promotion_shift(analysis: Analysis, routes: Routes) -> Routes:
    """One step of Flagger's ``runPromotionTrafficShift``: give the primary ``stepWeightPromotion`` more.

    >>> promotion_shift(Analysis(step_weight_promotion=30), Routes(50, 50))
    Routes(primary=80, canary=20, mirror=False, match=False)
    """
    step = analysis.step_weight_promotion
    primary = min(TOTAL_WEIGHT, routes.primary + step)
    return Routes(primary, TOTAL_WEIGHT - primary, match=routes.match and primary < TOTAL_WEIGHT)


def _clamp(weight: int) -> int:
    return max(0, min(TOTAL_WEIGHT, weight))
