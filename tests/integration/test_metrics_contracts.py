"""The SaaS metrics providers against loopback contract servers built from their API references.

Each contract (``tests/integration/contracts/<provider>.py``) names the API page it
follows, checks every field of the request Flagger's provider sends (400 otherwise)
and answers the documented shapes. For every provider: a value is read; an empty or
null answer is "no values found"; an error body, 401, 403, 429 and a slow answer are
failed checks naming the provider and the status; none of them is a value, so none
can promote. A random key is then looked for in every message, log line and repr.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import pytest

from gitflagger.adapters.metrics import evaluate_metrics, provider_for
from gitflagger.adapters.metrics.provider import MetricsProvider, NoValuesFound, QueryFailed
from gitflagger.decide.observation import MetricOutcome
from gitflagger.errors import ValidationError
from gitflagger.model.templates import MetricTemplate
from tests.integration.contracts import (
    datadog,
    dynatrace,
    externalmetrics,
    graphite,
    influxdb,
    newrelic,
    splunk,
    stackdriver,
)
from tests.integration.contracts.base import RETRY_AFTER, SCENARIOS, Contract, ContractServer, open_server
from tests.unit.adapters.canaries import canary, metric

CONTRACTS = {
    c.provider: c
    for c in (
        datadog.CONTRACT,
        newrelic.CONTRACT,
        dynatrace.CONTRACT,
        influxdb.CONTRACT,
        graphite.CONTRACT,
        stackdriver.CONTRACT,
        externalmetrics.CONTRACT,
        splunk.CONTRACT,
    )
}
TIMEOUT = 1.0


@pytest.fixture(params=sorted(CONTRACTS))
def contract(request: pytest.FixtureRequest) -> Contract:
    return CONTRACTS[request.param]


@pytest.fixture
def key() -> str:
    return "k" + secrets.token_hex(16)


@pytest.fixture
def server(contract: Contract, key: str) -> Iterator[ContractServer]:
    with open_server(contract, contract.credentials(key), slow_seconds=TIMEOUT + 1.5) as srv:
        yield srv


def build(server: ContractServer) -> MetricsProvider:
    c = server.contract
    return provider_for(c.spec(server.url), server.credentials, timeout=TIMEOUT, interval=c.interval)


def test_reads_the_value_from_a_request_that_meets_the_contract(server: ContractServer) -> None:
    provider = build(server)
    assert provider.run_query(server.contract.query) == server.contract.expected_value
    assert server.violations == []
    assert len([r for r in server.requests if not r.path.startswith("/oauth2/")]) == 1  # one query


@pytest.mark.parametrize("scenario", ["empty", "null"])
def test_empty_and_null_answers_are_no_values_found(server: ContractServer, scenario: str) -> None:
    server.scenario = scenario
    with pytest.raises(NoValuesFound, match="no values found"):
        build(server).run_query(server.contract.query)
    assert server.violations == []


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        # SignalFlow answers over its WebSocket with error messages carrying the same codes
        ("error", ["HTTP 4", "HTTP 5", "SignalFlow error 4"]),
        ("401", ["HTTP 401", "SignalFlow error 401"]),
        ("403", ["HTTP 403", "SignalFlow error 403"]),
        ("429", [f"HTTP 429 Too Many Requests (retry after {RETRY_AFTER}s)"]),
        ("slow", [f"no answer within {TIMEOUT:g}s (timeout)"]),
    ],
)
def test_failures_are_failed_checks_naming_provider_and_status(
    server: ContractServer, scenario: str, words: list[str]
) -> None:
    server.scenario = scenario
    with pytest.raises(QueryFailed) as err:
        build(server).run_query(server.contract.query)
    message = str(err.value)
    assert message.startswith(f"{server.contract.provider} http://127.0.0.1:")
    assert any(w in message for w in words), message
    assert server.violations == []


def test_a_request_outside_the_contract_is_refused_with_400(server: ContractServer) -> None:
    wrong = dict(server.credentials)
    first = sorted(wrong)[0]
    wrong[first] = wrong[first] + "-wrong"
    c = server.contract
    provider = provider_for(c.spec(server.url), wrong, timeout=TIMEOUT, interval=c.interval)
    with pytest.raises(QueryFailed, match=r"HTTP 400|SignalFlow error 400"):
        provider.run_query(c.query)
    assert server.violations, "the contract server should have seen the wrong field"


def test_is_online_sends_flaggers_check(server: ContractServer) -> None:
    server.online = True
    assert build(server).is_online()
    assert server.violations == []
    server.scenario = "401"
    assert not build(server).is_online()


def test_no_scenario_promotes_and_the_key_is_never_shown(
    server: ContractServer, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every scenario through evaluate_metrics: only ``value`` is a value; the key appears nowhere."""
    caplog.set_level(logging.DEBUG)
    c = server.contract
    template = MetricTemplate("t", "test", c.spec(server.url), c.query)
    check = metric("m", template="t", interval=c.interval)
    seen: list[str] = []
    for scenario in SCENARIOS:
        server.scenario = scenario
        results = evaluate_metrics(
            canary(metrics=(check,)),
            {("test", "t"): template},
            {("test", "creds"): server.credentials},
            "http://127.0.0.1:9",
            timeout=TIMEOUT,
        )
        result = results["m"]
        assert (result.outcome is MetricOutcome.VALUE) == (scenario == "value"), scenario
        assert result.provider == c.provider
        seen += [result.error, repr(result)]
    seen += [repr(build(server)), caplog.text]
    wrong = dict(server.credentials)
    for name in wrong:
        wrong[name] = key + "x"
    try:
        provider_for(c.spec(server.url), wrong, timeout=TIMEOUT, interval=c.interval).run_query(c.query)
    except (QueryFailed, ValidationError) as err:
        seen.append(str(err))
    assert len(seen) == 2 * len(SCENARIOS) + 3
    assert all(key not in text for text in seen), [t for t in seen if key in t]
