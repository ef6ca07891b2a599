"""MetricTemplate and AlertProvider parsing, strict query rendering, Secret decoding."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model.templates import (
    AlertProviderType,
    MetricProviderSpec,
    MetricTemplate,
    decode_secret_data,
    parse_alert_provider,
    parse_metric_template,
    render_query,
)


def template_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "not-found", "namespace": "istio-system"},
        "spec": spec,
    }


def problems(err: ValidationError) -> list[str]:
    return [str(p) for p in err.problems]


def test_parses_a_full_metric_template() -> None:
    doc = template_doc(
        provider={
            "type": "prometheus",
            "address": "https://prom.example:9090/prefix",
            "secretRef": {"name": "prom-auth"},
            "headers": {"X-Scope-OrgID": ["tenant-a"], "X-Single": "one"},
            "insecureSkipVerify": True,
        },
        query='sum(rate(x{ns="{{ namespace }}"}[{{ interval }}]))',
    )
    t = parse_metric_template(doc)
    assert (t.namespace, t.name, t.key) == ("istio-system", "not-found", ("istio-system", "not-found"))
    assert t.provider == MetricProviderSpec(
        "prometheus",
        "https://prom.example:9090/prefix",
        "prom-auth",
        {"X-Scope-OrgID": ("tenant-a",), "X-Single": ("one",)},
        True,
    )


def test_empty_provider_type_means_prometheus_like_flagger() -> None:
    t = parse_metric_template(template_doc(provider={"address": "http://p:9090"}, query="up"))
    assert t.provider.type == "prometheus"


def test_missing_namespace_uses_the_default() -> None:
    doc = template_doc(query="up")
    del doc["metadata"]["namespace"]
    assert parse_metric_template(doc, default_namespace="flagger").namespace == "flagger"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"apiVersion": "flagger.app/v1alpha3"}, "apiVersion: expected flagger.app/v1beta1", id="version"
        ),
        pytest.param({"kind": "Canary"}, "kind: expected MetricTemplate, got 'Canary'", id="kind"),
        pytest.param({"metadata": {}}, "metadata.name: required", id="no-name"),
        pytest.param({"spec": None}, "spec: required", id="no-spec"),
        pytest.param({"spec": {"provider": {}}}, "spec.query: required", id="no-query"),
        pytest.param({"spec": {"query": "  "}}, "spec.query: required", id="blank-query"),
        pytest.param(
            {"spec": {"query": "up", "provider": {"address": "prom:9090"}}},
            "spec.provider.address: must be an http:// or https:// URL with a host",
            id="address-without-scheme",
        ),
        pytest.param(
            {"spec": {"query": "up", "provider": {"type": 3}}},
            "spec.provider.type: must be a string",
            id="type-int",
        ),
        pytest.param(
            {"spec": {"query": "up", "provider": {"secretRef": {}}}},
            "spec.provider.secretRef.name: required",
            id="secret-ref-no-name",
        ),
        pytest.param(
            {"spec": {"query": "up", "provider": {"headers": {"X": [1]}}}},
            "spec.provider.headers.X: must be a string or a list of strings",
            id="header-not-string",
        ),
        pytest.param(
            {"spec": {"query": "up", "provider": {"headers": {"X": "a\r\nEvil: 1"}}}},
            "spec.provider.headers.X: must not contain line breaks",
            id="header-injection",
        ),
        pytest.param(
            {"spec": {"query": "up", "provider": {"insecureSkipVerify": "yes"}}},
            "spec.provider.insecureSkipVerify: must be true or false",
            id="skip-verify-string",
        ),
        pytest.param(
            {"spec": {"query": "up{a='{{ ingress }}'}"}},
            'spec.query: unknown template expression "{{ ingress }}"',
            id="unknown-expression",
        ),
        pytest.param({"spec": {"query": "up{{ target"}}, 'spec.query: unclosed "{{" in query', id="unclosed"),
    ],
)
def test_invalid_metric_templates_name_the_field(change: dict[str, Any], expected: str) -> None:
    doc = {**template_doc(query="up"), **change}
    with pytest.raises(ValidationError) as err:
        parse_metric_template(doc)
    assert any(p.startswith(expected) for p in problems(err.value)), problems(err.value)
    assert str(err.value).startswith("invalid MetricTemplate ")


def test_every_problem_is_reported_at_once() -> None:
    doc = {
        "apiVersion": "v1",
        "kind": "MetricTemplate",
        "metadata": {},
        "spec": {"provider": {"address": "x"}},
    }
    with pytest.raises(ValidationError) as err:
        parse_metric_template(doc)
    assert [p.path for p in err.value.problems] == [
        "apiVersion",
        "metadata.name",
        "spec.provider.address",
        "spec.query",
    ]


def test_an_address_problem_never_echoes_the_url() -> None:
    doc = template_doc(provider={"address": "ftp://user:hunter2@prom"}, query="up")
    with pytest.raises(ValidationError) as err:
        parse_metric_template(doc)
    assert "hunter2" not in str(err.value)


def render(template: MetricTemplate | str, variables: dict[str, str] | None = None) -> str:
    return render_query(
        template,
        name="podinfo",
        namespace="test",
        target="podinfo-t",
        service="podinfo-svc",
        interval="2m",
        variables=variables,
    )


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (
            "{{ name }}/{{ namespace }}/{{ target }}/{{ service }}/{{ interval }}",
            {},
            "podinfo/test/podinfo-t/podinfo-svc/2m",
        ),
        ("{{name}}-{{  target  }}", {}, "podinfo-podinfo-t"),
        ('d="{{ variables.direction }}"', {"direction": "inbound"}, 'd="inbound"'),
        ('d="{{ variables.empty }}"', {"empty": ""}, 'd=""'),
        ("no placeholders at all", {}, "no placeholders at all"),
        ('x{a=~"b{2}"}}', {}, 'x{a=~"b{2}"}}'),
    ],
    ids=["all-names", "no-spaces", "variable", "empty-variable-is-set", "plain", "lone-closing-braces"],
)
def test_render_query(query: str, variables: dict[str, str], expected: str) -> None:
    assert render(query, variables) == expected


@pytest.mark.parametrize(
    ("query", "variables", "expected"),
    [
        (
            "{{ variables.direction }}",
            {"other": "x"},
            'query: template variable "variables.direction" is not set in templateVariables (set: other)',
        ),
        ("{{ variables.direction }}", {}, "(set: none)"),
        ("{{ .Name }}", {}, 'query: unknown template expression "{{ .Name }}"'),
        ("{{ printf }}", {}, 'unknown template expression "{{ printf }}"'),
        ("{{- target -}}", {}, 'unknown template expression "{{- target -}}"'),
        ("{{ variables }}", {}, 'unknown template expression "{{ variables }}"'),
        ("sum({{ target }}", {}, None),
        ("{{ target", {}, 'query: unclosed "{{" in query'),
    ],
    ids=[
        "missing-variable",
        "no-variables",
        "go-field",
        "function",
        "trim-markers",
        "bare-variables",
        "ok",
        "unclosed",
    ],
)
def test_render_query_is_strict(query: str, variables: dict[str, str], expected: str | None) -> None:
    if expected is None:
        assert render(query, variables) == "sum(podinfo-t"
        return
    with pytest.raises(ValidationError) as err:
        render(query, variables)
    assert expected in str(err.value)


def test_render_query_of_a_template_names_the_template() -> None:
    t = parse_metric_template(template_doc(query='x{d="{{ variables.dir }}"}'))
    with pytest.raises(ValidationError) as err:
        render(t)
    assert str(err.value).startswith(
        "invalid MetricTemplate istio-system/not-found: spec.query: template variable"
    )
    assert render(t, {"dir": "in"}) == 'x{d="in"}'


def provider_doc(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "AlertProvider",
        "metadata": {"name": "on-call", "namespace": "flagger"},
        "spec": spec,
    }


def test_parses_an_alert_provider_and_hides_its_address() -> None:
    p = parse_alert_provider(
        provider_doc(
            type="slack",
            address="https://hooks.slack.com/services/T0/B0/SECRET",
            channel="alerts",
            username="bot",
            proxy="http://proxy:3128",
        )
    )
    assert (p.type, p.channel, p.username, p.proxy, p.secret_ref) == (
        AlertProviderType.SLACK,
        "alerts",
        "bot",
        "http://proxy:3128",
        None,
    )
    assert p.address.endswith("/SECRET")
    assert "SECRET" not in repr(p)


@pytest.mark.parametrize("kind", [t.value for t in AlertProviderType])
def test_every_supported_alert_provider_type(kind: str) -> None:
    assert parse_alert_provider(provider_doc(type=kind, secretRef={"name": "hook"})).type == kind


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"type": "pagerduty", "address": "http://x"},
            'spec.type: unknown alert provider "pagerduty", supported: '
            "discord, gchat, msteams, rocket, slack",
        ),
        ({"address": "http://x"}, "spec.type: required"),
        ({"type": "slack"}, "spec.address: required unless spec.secretRef names a Secret with an address"),
        (
            {"type": "slack", "address": "hooks.slack.com/x"},
            "spec.address: must be an http:// or https:// URL",
        ),
        (
            {"type": "slack", "address": "http://x", "proxy": "proxy:1"},
            "spec.proxy: must be an http:// or https://",
        ),
        ({"type": "slack", "address": "http://x", "channel": ["a"]}, "spec.channel: must be a string"),
    ],
    ids=["unknown-type", "no-type", "no-address", "bad-address", "bad-proxy", "channel-list"],
)
def test_invalid_alert_providers(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_alert_provider(provider_doc(**spec))
    assert any(p.startswith(expected) for p in problems(err.value)), problems(err.value)
    assert str(err.value).startswith("invalid AlertProvider flagger/on-call: ")


def test_secret_data_decodes_data_and_string_data() -> None:
    secret = {
        "metadata": {"name": "prom-auth", "namespace": "flagger"},
        "data": {"username": base64.b64encode(b"admin").decode()},
        "stringData": {"password": "s3cret"},
    }
    assert decode_secret_data(secret) == {"username": "admin", "password": "s3cret"}
    assert decode_secret_data({"metadata": {}}) == {}


def test_secret_data_names_the_bad_key_but_never_the_value() -> None:
    secret = {"metadata": {"name": "prom-auth", "namespace": "flagger"}, "data": {"token": "not base64!!"}}
    with pytest.raises(ValidationError) as err:
        decode_secret_data(secret)
    assert str(err.value) == "invalid Secret flagger/prom-auth: data.token: is not base64-encoded UTF-8 text"


def test_region_is_parsed_and_an_unknown_provider_field_is_refused() -> None:
    doc = template_doc(provider={"type": "cloudwatch", "region": "eu-west-1"}, query="[]")
    t = parse_metric_template(doc)
    assert (t.provider.region, t.provider.fields_set()) == ("eu-west-1", ("region",))
    with pytest.raises(ValidationError) as err:
        parse_metric_template(template_doc(provider={"type": "datadog", "apiKey": "x"}, query="q"))
    [line] = problems(err.value)
    assert line.startswith("spec.provider.apiKey: is not a MetricTemplate field")
