"""Session affinity (``analysis.sessionAffinity``): which sticky cookie a step uses.

Flagger's Istio router keeps the cookie in the Canary status and changes it
as it sets the weights:

- while the canary has weight, the rollout has a cookie ``<cookieName>=<10
  letters>``, drawn once when the canary first gets traffic and kept until the
  canary's weight drops back to 0. Clients that hit the canary are given it and
  stick to the canary from then on;
- when the canary's weight is 0 again (promotion, rollback, or a blue/green
  analysis, which never weights the canary), that cookie becomes the *previous*
  one: the VirtualService then matches it and tells its holders to drop it
  (``Max-Age=-1``).
- with ``primaryCookieName`` (newer Flagger), a second cookie
  ``<primaryCookieName>=<10 letters>`` is drawn when the canary first gets
  traffic: the primary's responses hand it out and its holders stay on the
  primary. As in Flagger it stays in the status between rollouts (it is drawn
  again only when ``primaryCookieName`` changes).

Flagger draws the 10 letters from a clock-seeded PRNG. The decision core never
draws anything: the letters are derived from a seed the caller supplies (the
Canary's uid, the revision and the previous cookie), so replaying a step
renders the same bytes and the config repo never churns. The value only has to
be distinct between rollouts; it is not a secret, since every canary response
hands it out.
"""

from __future__ import annotations

import hashlib

from gitflagger.model.canary import SessionAffinity
from gitflagger.model.status import State

COOKIE_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""The alphabet of Flagger's ``randSeq``."""
COOKIE_VALUE_LENGTH = 10


def cookie_value(seed: str) -> str:
    """Ten letters from :data:`COOKIE_LETTERS`, a pure function of ``seed``.

    >>> cookie_value("uid/sha256:abc/") == cookie_value("uid/sha256:abc/")
    True
    >>> len(cookie_value("x")), cookie_value("x").isalpha()
    (10, True)
    """
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(COOKIE_LETTERS[b % len(COOKIE_LETTERS)] for b in digest[:COOKIE_VALUE_LENGTH])


def split_cookie(cookie: str) -> tuple[str, str] | None:
    """``name=value`` as ``(name, value)``; ``None`` for anything else (a hand-edited status)."""
    name, sep, value = cookie.partition("=")
    if not sep or not name or not value or "=" in value:
        return None
    return name, value


def settle(affinity: SessionAffinity | None, state: State, canary_weight: int, seed: str) -> State:
    """The state's cookies after a step that leaves the canary at ``canary_weight``.

    ``seed`` identifies the rollout (see the module docstring); the previous
    cookie is mixed in so a retry of the same revision gets a fresh cookie.
    Without ``sessionAffinity`` the state is returned unchanged.

    >>> from gitflagger.model.canary import SessionAffinity
    >>> a = SessionAffinity("flagger-cookie")
    >>> s = settle(a, State(), 10, "uid/sha256:a")
    >>> s.session_affinity_cookie.startswith("flagger-cookie="), s.previous_session_affinity_cookie
    (True, '')
    >>> t = settle(a, s, 0, "uid/sha256:a")
    >>> t.session_affinity_cookie, t.previous_session_affinity_cookie == s.session_affinity_cookie
    ('', True)
    """
    if affinity is None:
        return state
    if canary_weight > 0:
        state = _primary_cookie(affinity, state, seed)
    current = state.session_affinity_cookie
    if canary_weight > 0:
        if split_cookie(current) is not None:
            return state
        previous = state.previous_session_affinity_cookie
        value = cookie_value(f"{seed}/{affinity.cookie_name}/{previous}")
        if f"{affinity.cookie_name}={value}" == previous:  # astronomically unlikely; never reuse
            value = cookie_value(f"{seed}/{affinity.cookie_name}/{previous}/again")
        return state.evolve(session_affinity_cookie=f"{affinity.cookie_name}={value}")
    if current:
        usable = split_cookie(current) is not None
        return state.evolve(
            session_affinity_cookie="",
            previous_session_affinity_cookie=current if usable else state.previous_session_affinity_cookie,
        )
    return state


def _primary_cookie(affinity: SessionAffinity, state: State, seed: str) -> State:
    """The state with a primary cookie named ``primaryCookieName``, drawn if it has none of that name."""
    name = affinity.primary_cookie_name
    held = split_cookie(state.primary_session_affinity_cookie)
    if not name or (held is not None and held[0] == name):
        return state
    return state.evolve(primary_session_affinity_cookie=f"{name}={cookie_value(f'{seed}/{name}/primary')}")
