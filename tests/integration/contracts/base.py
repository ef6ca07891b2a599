"""Shared machinery for the metrics providers' loopback contract servers.

A SaaS metrics API cannot run here, so each provider gets a *contract*: what its
published API reference says a request must carry and what the API answers. A
:class:`ContractServer` (a real HTTP server on 127.0.0.1) checks every request
against the contract and answers the scenario a test selects:

- ``value``, ``empty``, ``null``, ``error``: the documented answer shapes;
- ``401``, ``403``: the documented auth failure bodies;
- ``429``: too many requests, with ``Retry-After``;
- ``slow``: the normal answer, but later than the provider's timeout;

and anything that breaks the contract gets 400 with the reasons, which the
server also keeps in :attr:`ContractServer.violations` so a test can assert
there were none. One module per provider defines its :class:`Contract`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitflagger.model.templates import MetricProviderSpec
from tests.unit.adapters.loopback import LoopbackServer, Reply, Request

SCENARIOS = ("value", "empty", "null", "error", "401", "403", "429", "slow")
RETRY_AFTER = "17"


@dataclass(frozen=True)
class Contract:
    provider: str
    api_page: str
    """The published API reference the contract follows."""
    query: str
    interval: str
    expected_value: float
    check: Callable[[Request, Mapping[str, str]], list[str]]
    """Violations of the request contract (empty when the request is right), given the Secret."""
    answers: Mapping[str, Reply]
    """Replies for ``value``, ``empty``, ``null``, ``error``, ``401``, ``403`` and ``429``."""
    credentials: Callable[[str], dict[str, str]]
    """The Secret's data, built around one random key (so a test can look for it everywhere)."""
    spec_fields: Mapping[str, Any] = field(default_factory=dict)
    auxiliary: Callable[[Request, Mapping[str, str]], Reply | None] | None = None
    """Answers requests to a side endpoint (e.g. an OAuth2 token endpoint) before the scenario applies."""
    address_path: str = ""
    """A path after the server's URL in ``spec.provider.address`` (kept as a prefix by the provider)."""
    online_check: Callable[[Request, Mapping[str, str]], list[str]] | None = None
    """Violations for the provider's ``IsOnline`` request (defaults to :attr:`check`)."""
    server: Callable[..., Any] | None = None
    """The server class when HTTP alone cannot hold the provider to its contract (SignalFlow's
    WebSocket); it has ContractServer's interface. None for :class:`ContractServer`."""

    def spec(self, url: str) -> MetricProviderSpec:
        address = url + self.address_path
        return MetricProviderSpec(type=self.provider, address=address, secret_ref="creds", **self.spec_fields)


class ContractServer:
    """A loopback server that holds a provider to its contract."""

    def __init__(
        self, contract: Contract, credentials: Mapping[str, str], *, slow_seconds: float = 3.0
    ) -> None:
        self.contract = contract
        self.scenario = "value"
        self.online = False
        self.violations: list[str] = []
        self.slow_seconds = slow_seconds
        self._server = LoopbackServer()
        self._server.respond_with(self._respond)
        # "{server}" in a credential (a token_uri) becomes this server's URL
        self.credentials = {k: v.replace("{server}", self._server.url) for k, v in credentials.items()}

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def requests(self) -> list[Request]:
        return self._server.requests

    def __enter__(self) -> ContractServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    def _respond(self, request: Request) -> Reply:
        if self.contract.auxiliary is not None:
            reply = self.contract.auxiliary(request, self.credentials)
            if reply is not None:
                return reply
        check = (
            self.contract.online_check if self.online and self.contract.online_check else self.contract.check
        )
        problems = check(request, self.credentials)
        if problems:
            self.violations += problems
            return Reply(400, {"contract": problems})
        if self.scenario == "slow":
            return Reply(200, self.contract.answers["value"].body, delay=self.slow_seconds)
        return self.contract.answers[self.scenario]


def open_server(contract: Contract, credentials: Mapping[str, str], *, slow_seconds: float) -> ContractServer:
    """The contract's server (not started): :class:`ContractServer` unless the contract names another."""
    factory = contract.server or ContractServer
    server: ContractServer = factory(contract, credentials, slow_seconds=slow_seconds)
    return server


# ---- helpers for the per-provider checks -----------------------------------------


def expect(problems: list[str], what: str, got: object, want: object) -> None:
    if got != want:
        problems.append(f"{what}: expected {want!r}, got {got!r}")


def expect_secret(problems: list[str], what: str, got: object, want: object) -> None:
    """Like :func:`expect`, but the answer never echoes a credential (the right one or the wrong one)."""
    if got != want:
        problems.append(f"{what}: missing or wrong credential")


def one(query: Mapping[str, list[str]], name: str, problems: list[str]) -> str:
    values = query.get(name, [])
    if len(values) != 1:
        problems.append(f"query parameter {name!r}: expected exactly one, got {values!r}")
        return ""
    return values[0]


def expect_params(query: Mapping[str, list[str]], names: set[str], problems: list[str]) -> None:
    extra = set(query) - names
    if extra:
        problems.append(f"unexpected query parameters {sorted(extra)}")


def recent(stamp: str, unit: float, problems: list[str], what: str) -> int:
    """``stamp`` (seconds or milliseconds since the epoch) as an int, checked to be within 10 s of now."""
    try:
        value = int(stamp)
    except ValueError:
        problems.append(f"{what}: not an integer: {stamp!r}")
        return 0
    if abs(value / unit - time.time()) > 10:
        problems.append(f"{what}: {value} is not now")
    return value
