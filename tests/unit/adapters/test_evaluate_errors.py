"""evaluate_metrics turns every configuration problem into a failed MetricResult (no network needed).

Each case below fails before any request is made, so nothing listens anywhere.
"""

from __future__ import annotations

import pytest

from gitflagger.adapters.metrics import PrometheusProvider, provider_for, supported_types
from gitflagger.adapters.metrics.evaluate import evaluate_metrics
from gitflagger.decide.observation import MetricOutcome
from gitflagger.errors import ValidationError
from gitflagger.model.canary import MetricCheck
from gitflagger.model.templates import MetricProviderSpec, MetricTemplate
from tests.unit.adapters.canaries import canary, metric

PROM = MetricProviderSpec("prometheus", "http://127.0.0.1:9")


def template(
    name: str = "errors", namespace: str = "test", query: str = "up", **provider: object
) -> MetricTemplate:
    spec = MetricProviderSpec(**{"type": "prometheus", "address": "http://127.0.0.1:9", **provider})  # type: ignore[arg-type]
    return MetricTemplate(name, namespace, spec, query)


@pytest.mark.parametrize(
    ("check", "templates", "secrets", "expected"),
    [
        pytest.param(
            metric("e", template="missing"), {}, {}, "MetricTemplate test/missing not found", id="no-template"
        ),
        pytest.param(
            metric("e", template="errors", template_namespace="shared"),
            {("test", "errors"): template()},
            {},
            "MetricTemplate shared/errors not found",
            id="template-in-other-namespace",
        ),
        pytest.param(
            metric("e", template="errors"),
            {("test", "errors"): template(query='x{d="{{ variables.dir }}"}')},
            {},
            'template variable "variables.dir" is not set in templateVariables (set: none)',
            id="unset-variable",
        ),
        pytest.param(
            metric("e", template="errors"),
            {("test", "errors"): template(type="datadgo")},
            {},
            'spec.provider.type: unknown provider "datadgo", supported: cloudwatch, datadog, dynatrace, ',
            id="unknown-provider",
        ),
        pytest.param(
            metric("e", template="errors"),
            {("test", "errors"): template(secret_ref="prom-auth")},
            {},
            "Secret test/prom-auth (spec.provider.secretRef) not found",
            id="missing-secret",
        ),
        pytest.param(
            metric("e", template="errors"),
            {("test", "errors"): template(secret_ref="prom-auth")},
            {("test", "prom-auth"): {"username": "admin"}},
            'Secret "prom-auth" has neither a "token" key nor both "username" and "password"',
            id="incomplete-secret",
        ),
        pytest.param(
            metric("e", template="errors"),
            {("test", "errors"): template(address="")},
            {},
            "spec.provider.address: required for prometheus",
            id="template-without-address",
        ),
        pytest.param(
            metric("error-rate"),
            {},
            {},
            'metric "error-rate" is not built-in (request-success-rate, request-duration) '
            "and has neither a templateRef nor a query",
            id="unknown-metric",
        ),
    ],
)
def test_configuration_problems_fail_the_metric(
    check: MetricCheck,
    templates: dict[tuple[str, str], MetricTemplate],
    secrets: dict[tuple[str, str], dict[str, str]],
    expected: str,
) -> None:
    results = evaluate_metrics(canary(metrics=(check,)), templates, secrets, "http://127.0.0.1:9")
    assert list(results) == [check.name]
    result = results[check.name]
    assert result.outcome is MetricOutcome.ERROR
    assert expected in result.error


@pytest.mark.parametrize("address", ["", "prometheus:9090", "ftp://prom"])
def test_an_unusable_metrics_server_fails_builtins(address: str) -> None:
    results = evaluate_metrics(canary(metrics=(metric("request-success-rate"),)), {}, {}, address)
    assert results["request-success-rate"].outcome is MetricOutcome.ERROR
    assert results["request-success-rate"].error.startswith("metrics server (--metrics-server) unusable: ")


def test_no_metrics_no_results() -> None:
    assert evaluate_metrics(canary(), {}, {}, "http://127.0.0.1:9") == {}


def test_registry_rejects_unknown_types_naming_the_field() -> None:
    supported = (
        "cloudwatch, datadog, dynatrace, externalmetrics, graphite, influxdb, keptn, newrelic, prometheus, "
        "splunk, stackdriver"
    )
    assert ", ".join(supported_types()) == supported
    with pytest.raises(ValidationError) as err:
        provider_for(MetricProviderSpec(type="foo", address="http://p"))
    assert str(err.value) == (
        f'invalid MetricTemplate: spec.provider.type: unknown provider "foo", supported: {supported}'
    )


def test_prometheus_from_spec_follows_flaggers_credential_rules() -> None:
    spec = MetricProviderSpec(address="http://p:9090", secret_ref="auth")
    assert provider_for(spec, {"token": "tok-123456"}).__repr__() == (
        "PrometheusProvider(address='http://p:9090', auth='bearer', insecure_skip_verify=False, timeout=5)"
    )
    both = provider_for(spec, {"token": "tok-123456", "username": "u", "password": "p"})
    assert isinstance(both, PrometheusProvider) and both.auth_kind == "bearer"  # token wins, as in Flagger
    basic = provider_for(spec, {"username": "u", "password": "pw-123456"})
    assert isinstance(basic, PrometheusProvider) and basic.auth_kind == "basic"
    no_secret = provider_for(MetricProviderSpec(address="http://p:9090"), {"token": "ignored"})
    assert isinstance(no_secret, PrometheusProvider) and no_secret.auth_kind == "none"


def test_repr_never_shows_credentials() -> None:
    provider = PrometheusProvider(
        "https://admin:hunter2@prom.example/prefix/",
        headers={"X-Api-Key": "k-987654"},
        timeout=2.5,
    )
    text = repr(provider)
    assert text == (
        "PrometheusProvider(address='https://prom.example/prefix', auth='basic', "
        "insecure_skip_verify=False, timeout=2.5)"
    )
    assert "hunter2" not in text and "k-987654" not in text


@pytest.mark.parametrize(
    "address", ["prom:9090", "", "file:///etc/passwd", "http://", "http://[::1", "http://p:99999"]
)
def test_prometheus_rejects_bad_addresses(address: str) -> None:
    with pytest.raises(ValidationError, match=r"spec\.provider\.address: must be an http:// or https:// URL"):
        PrometheusProvider(address)
