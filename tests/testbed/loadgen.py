"""Simulated users for the mesh simulator: who sends what, and a browser's cookie jar each.

A :class:`LoadProfile` says how many users call a host, which of them carry
the A/B header or an A/B cookie (Flagger's tutorial matches ``x-canary:
insider`` and the cookie ``canary=always``), and which Services are called
directly, bypassing the VirtualService (a load tester aimed at
``podinfo-canary``, as blue/green analysis needs). Each user keeps a
:class:`CookieJar`: it stores what ``Set-Cookie`` hands out, drops a cookie
whose ``Max-Age`` is zero or negative or has run out, and sends the rest back
in a ``Cookie`` header, as a browser does for a single site. Users are drawn
from a seeded generator, so a run is repeatable.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from tests.testbed.istio_routing import Request

AB_HEADER = ("X-Canary", "insider")
"""Sent with a mixed-case name: header names must match case-insensitively."""
AB_COOKIE = ("canary", "always")


@dataclass(frozen=True)
class LoadProfile:
    """Who calls one namespace's hosts.

    Users ``i`` with ``i % 4 == 0`` send :data:`AB_HEADER`, ``i % 4 == 1``
    start with :data:`AB_COOKIE` in their jar (when ``ab_users`` is on); the
    rest send neither.
    """

    users: int = 20
    ab_users: bool = True
    path: str = "/"
    direct: tuple[str, ...] = ()
    """Services called directly (no VirtualService), each at ``direct_rate`` requests/s."""
    direct_rate: float = 20.0


DEFAULT_PROFILE = LoadProfile()


@dataclass
class CookieJar:
    """name → (value, expiry time or None), for one site."""

    cookies: dict[str, tuple[str, float | None]] = field(default_factory=dict)

    def header(self, now: float) -> str | None:
        """The ``Cookie`` header a browser would send at ``now`` (expired cookies dropped first)."""
        self.cookies = {k: v for k, v in self.cookies.items() if v[1] is None or v[1] > now}
        return "; ".join(f"{k}={v}" for k, (v, _) in self.cookies.items()) or None

    def store(self, set_cookie: str, now: float) -> None:
        """Take one ``Set-Cookie`` value: ``name=value`` then attributes; ``Max-Age <= 0`` deletes."""
        first, *attributes = (part.strip() for part in set_cookie.split(";"))
        name, sep, value = first.partition("=")
        if not sep or not name:
            return  # a browser ignores a cookie without a name
        expires: float | None = None
        for attribute in attributes:
            key, _, arg = attribute.partition("=")
            if key.strip().lower() == "max-age":
                try:
                    age = int(arg.strip())
                except ValueError:
                    continue  # RFC 6265 5.2.2: an unparsable Max-Age is ignored
                if age <= 0:
                    self.cookies.pop(name.strip(), None)
                    return
                expires = now + age
        self.cookies[name.strip()] = (value.strip(), expires)

    def get(self, name: str) -> str | None:
        entry = self.cookies.get(name)
        return entry[0] if entry else None


@dataclass
class User:
    """One simulated browser: its jar and what it was answered by."""

    index: int
    header: tuple[str, str] | None
    jar: CookieJar = field(default_factory=CookieJar)
    answers: Counter[str] = field(default_factory=Counter)
    """Answering workload → count."""
    held: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(cookie name, answering workload) → answers received while holding a cookie the mesh
    handed out (the A/B cookie does not count)."""

    def pinned(self, cookie: str) -> Counter[str]:
        """Answering workload → answers received while holding ``cookie``."""
        return Counter({w: n for (c, w), n in self.held.items() if c == cookie})
    given: list[str] = field(default_factory=list)
    """Every ``Set-Cookie`` value received, in order."""


class Users:
    """The users of one namespace, drawn at random (seeded) for each request."""

    def __init__(self, profile: LoadProfile, seed: int) -> None:
        self.profile = profile
        self._rng = random.Random(seed)
        self.users = [self._user(i) for i in range(max(profile.users, 1))]

    def _user(self, i: int) -> User:
        ab = self.profile.ab_users
        user = User(i, AB_HEADER if ab and i % 4 == 0 else None)
        if ab and i % 4 == 1:
            user.jar.store(f"{AB_COOKIE[0]}={AB_COOKIE[1]}", 0.0)
        return user

    def next(self, host: str, now: float) -> tuple[User, Request]:
        user = self.users[self._rng.randrange(len(self.users))]
        headers: list[tuple[str, str]] = []
        if user.header:
            headers.append(user.header)
        cookie = user.jar.header(now)
        if cookie:
            headers.append(("Cookie", cookie))
        return user, Request(path=self.profile.path, authority=host, headers=tuple(headers))

    @staticmethod
    def answered(user: User, workload: str, headers: tuple[tuple[str, str], ...], now: float) -> None:
        """Record the answer and keep its cookies, as a browser does."""
        user.answers[workload] += 1
        for name in user.jar.cookies:
            if name != AB_COOKIE[0]:
                user.held[(name, workload)] += 1
        for name, value in headers:
            if name.lower() == "set-cookie":
                user.given.append(value)
                user.jar.store(value, now)


@dataclass
class Ledger:
    """What one namespace's traffic did, as the simulator routed it (read by the testbed tests)."""

    answered: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(user kind, answering workload) → requests; kinds: ``ab-header``, ``ab-cookie``, ``plain``."""
    mirrored: Counter[str] = field(default_factory=Counter)
    """Workload → mirrored copies it served (their answers were dropped)."""
    direct: Counter[str] = field(default_factory=Counter)
    """Workload → requests sent straight to its Service (``LoadProfile.direct``)."""
    unanswered: int = 0
    """Requests routed to a Service with no workload, or matched by no route."""
    users: list[User] = field(default_factory=list)

    def to(self, workload: str, kind: str | None = None) -> int:
        """User requests ``workload`` answered (of one kind of user, or of all)."""
        return sum(n for (k, w), n in self.answered.items() if w == workload and kind in (None, k))


def kind_of(user: User, profile: LoadProfile) -> str:
    if user.header is not None:
        return "ab-header"
    if profile.ab_users and user.index % 4 == 1:
        return "ab-cookie"
    return "plain"
