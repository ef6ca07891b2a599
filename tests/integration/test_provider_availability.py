"""check_providers: Flagger's checkMetricProviderAvailability, each failure in Flagger's words.

Real servers on 127.0.0.1: a loopback Prometheus and Datadog's contract server
(tests/integration/contracts/datadog.py, after
https://docs.datadoghq.com/api/latest/authentication/#validate-api-key), which
checks the online request field by field. The engine side (when it runs, the
Event, no promotion) is in tests/unit/engine/test_reconcile_errors.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gitflagger.adapters.metrics.availability import check_providers
from gitflagger.decide import messages
from gitflagger.model.templates import MetricProviderSpec, MetricTemplate
from tests.integration.contracts import datadog
from tests.integration.contracts.base import ContractServer
from tests.unit.adapters.canaries import canary, metric
from tests.unit.adapters.loopback import LoopbackServer, Reply
from tests.unit.engine.podinfo_world import vector


@pytest.fixture
def prometheus() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        srv.script(Reply(body=vector(1)))
        yield srv


@pytest.fixture
def dd() -> Iterator[ContractServer]:
    contract = datadog.CONTRACT
    with ContractServer(contract, contract.credentials("k-0123456789abcdef")) as srv:
        srv.online = True
        yield srv


def dd_template(srv: ContractServer, name: str = "errors") -> MetricTemplate:
    return MetricTemplate(name, "test", datadog.CONTRACT.spec(srv.url), datadog.QUERY)


def test_every_provider_online_is_no_reason(prometheus: LoopbackServer, dd: ContractServer) -> None:
    checks = (metric("request-success-rate"), metric("errors", template="errors"), metric("x", query="up"))
    reason = check_providers(
        canary(metrics=checks),
        {("test", "errors"): dd_template(dd)},
        {("test", "creds"): dd.credentials},
        prometheus.url,
        timeout=2,
    )
    assert reason == ""
    assert [r.query["query"] for r in prometheus.requests] == [["vector(1)"]]  # the inline query is not asked
    assert [r.path for r in dd.requests] == ["/api/v1/validate"] and dd.violations == []


def test_an_offline_template_provider_is_flaggers_message(
    prometheus: LoopbackServer, dd: ContractServer
) -> None:
    dd.scenario = "403"
    reason = check_providers(
        canary(metrics=(metric("errors", template="errors"),)),
        {("test", "errors"): dd_template(dd)},
        {("test", "creds"): dd.credentials},
        prometheus.url,
        timeout=2,
    )
    assert reason == "datadog in metric template errors.test not avaiable: online check failed"
    event = messages.providers_unavailable(reason)
    assert event.message == f"Error checking metric providers: {reason}"
    assert event.warning and not event.alerts  # Flagger records it (recordEventErrorf), it does not alert


def test_the_first_failure_stops_the_check(prometheus: LoopbackServer, dd: ContractServer) -> None:
    prometheus.script(Reply(503))
    checks = (metric("request-duration"), metric("errors", template="errors"))
    reason = check_providers(
        canary(metrics=checks),
        {("test", "errors"): dd_template(dd)},
        {("test", "creds"): dd.credentials},
        prometheus.url,
        timeout=2,
    )
    assert reason == "prometheus not avaiable: online check failed"
    assert dd.requests == []


@pytest.mark.parametrize(
    ("templates", "secrets", "reason"),
    [
        ({}, {}, "metric template errors.test error: not found or not valid"),
        ({("test", "errors"): "dd"}, {}, "metric template errors.test secret creds error: not found"),
        (
            {("test", "errors"): "dd"},
            {("test", "creds"): {"datadog_api_key": "k"}},
            "metric template errors.test provider datadog error: invalid datadog provider: "
            'spec.provider.secretRef: datadog credentials do not contain "datadog_application_key"',
        ),
    ],
)
def test_what_stops_a_provider_from_being_built_is_named(
    dd: ContractServer,
    templates: dict[tuple[str, str], str],
    secrets: dict[tuple[str, str], dict[str, str]],
    reason: str,
) -> None:
    real = {key: dd_template(dd) for key in templates}
    got = check_providers(
        canary(metrics=(metric("errors", template="errors"),)), real, secrets, "http://127.0.0.1:9"
    )
    assert got == reason


def test_an_unusable_metrics_server_for_a_builtin() -> None:
    reason = check_providers(canary(metrics=(metric("request-success-rate"),)), {}, {}, "ftp://nowhere")
    assert reason.startswith("error building Prometheus client for ftp://nowhere ")


def test_an_unreachable_template_provider_is_offline() -> None:
    spec = MetricProviderSpec(type="prometheus", address="http://127.0.0.1:9")
    template = MetricTemplate("t", "test", spec, "up")
    checks = (metric("a", template="t"), metric("b", template="t"))
    assert check_providers(canary(metrics=checks), {("test", "t"): template}, {}, "") == (
        "prometheus in metric template t.test not avaiable: online check failed"
    )
