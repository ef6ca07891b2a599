"""Canary parsing: the tutorial fixtures, Flagger's defaults, and every validation message."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.errors import ValidationError
from gitflagger.model import (
    AutoscalerRef,
    Canary,
    Duration,
    NamespacedRef,
    ObjectRef,
    Strategy,
    ThresholdRange,
    WebhookType,
    parse_canary,
    parse_canary_yaml,
)
from tests.unit.model.canaries import DELETE, FIXTURES, edited, minimal, problems_of


def fixture(name: str) -> Canary:
    [doc] = load_documents([FIXTURES / "podinfo" / name])
    return parse_canary(doc)


# -- the tutorial's podinfo Canary -----------------------------------------------------


def test_v1alpha3_and_v1beta1_fixtures_parse_to_the_same_canary() -> None:
    legacy, current = fixture("canary.yaml"), fixture("canary-v1beta1.yaml")
    assert legacy.api_version == "flagger.app/v1alpha3"
    assert current.api_version == "flagger.app/v1beta1"
    assert replace(legacy, api_version=current.api_version) == current


def test_tutorial_canary_fields() -> None:
    canary = fixture("canary.yaml")
    spec, analysis = canary.spec, canary.spec.analysis
    assert (canary.key, canary.ref, canary.primary_name) == (
        "podinfo.test",
        "test/podinfo",
        "podinfo-primary",
    )
    assert spec.target_ref == ObjectRef("apps/v1", "Deployment", "podinfo")
    assert spec.autoscaler_ref == AutoscalerRef("autoscaling/v2", "HorizontalPodAutoscaler", "podinfo")
    assert spec.progress_deadline_seconds == 60
    assert spec.service.port == 9898
    assert spec.service.gateways == ("public-gateway.istio-system.svc.cluster.local", "mesh")
    assert spec.service.hosts == ("app.example.com",)
    assert spec.service.traffic_policy == {"tls": {"mode": "DISABLE"}}
    assert (analysis.interval.seconds, analysis.threshold) == (60, 5)
    assert (analysis.max_weight, analysis.step_weight, analysis.strategy) == (50, 10, Strategy.CANARY)
    success, duration = analysis.metrics
    assert (success.name, success.threshold_range, success.interval) == (
        "request-success-rate",
        ThresholdRange(min=99),
        Duration(60_000_000_000, "1m"),
    )
    assert (duration.name, duration.threshold_range, str(duration.interval)) == (
        "request-duration",
        ThresholdRange(max=500),
        "30s",
    )
    [hook] = analysis.webhooks
    assert (hook.name, hook.type, hook.url, str(hook.timeout)) == (
        "load-test",
        WebhookType.ROLLOUT,
        "http://flagger-loadtester.test/",
        "5s",
    )
    assert hook.metadata == {"cmd": "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}


@pytest.mark.parametrize("path", sorted((FIXTURES / "invalid").glob("*.yaml")), ids=lambda p: p.stem)
def test_invalid_fixture_gives_its_expected_problems(path: Any) -> None:
    expected = [
        line[len("# expect: ") :].strip()
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]
    assert expected, "each invalid fixture names its expected problems"
    [doc] = load_documents([path])
    assert problems_of(doc) == expected


# -- defaults --------------------------------------------------------------------------

DEFAULTS = [
    ("interval-1m", lambda c: c.spec.analysis.interval, Duration(60_000_000_000, "1m")),
    ("threshold-1", lambda c: c.spec.analysis.threshold, 1),
    ("max-weight-100", lambda c: c.spec.analysis.max_weight, 100),
    ("primary-ready-100", lambda c: c.spec.analysis.primary_ready_threshold, 100),
    ("canary-ready-100", lambda c: c.spec.analysis.canary_ready_threshold, 100),
    ("progress-deadline-600", lambda c: c.spec.progress_deadline_seconds, 600),
    ("port-name-http", lambda c: c.spec.service.port_name, "http"),
    ("no-autoscaler", lambda c: c.spec.autoscaler_ref, None),
    (
        "not-suspended",
        lambda c: (c.spec.suspend, c.spec.skip_analysis, c.spec.revert_on_deletion),
        (False,) * 3,
    ),
]


@pytest.mark.parametrize(("getter", "expected"), [d[1:] for d in DEFAULTS], ids=[d[0] for d in DEFAULTS])
def test_default(getter: Any, expected: Any) -> None:
    assert getter(parse_canary(minimal())) == expected


def test_metric_and_webhook_defaults() -> None:
    doc = edited(
        minimal(),
        spec__analysis__metrics=[{"name": "request-success-rate", "thresholdRange": {"min": 99}}],
        spec__analysis__webhooks=[{"name": "gate", "url": "http://gate.test/"}],
    )
    analysis = parse_canary(doc).spec.analysis
    assert analysis.metrics[0].interval == Duration(60_000_000_000, "1m")
    assert (analysis.webhooks[0].type, str(analysis.webhooks[0].timeout)) == (WebhookType.ROLLOUT, "10s")


def test_missing_namespace_uses_the_default_namespace() -> None:
    doc = edited(minimal(), metadata__namespace=DELETE)
    assert parse_canary(doc).namespace == "default"
    assert parse_canary(doc, default_namespace="prod").namespace == "prod"


ADJUSTED = [
    ("short-interval-raised-to-10s", {"spec__analysis__interval": "5s"}, lambda a: str(a.interval), "10s"),
    ("zero-threshold-means-1", {"spec__analysis__threshold": 0}, lambda a: a.threshold, 1),
    ("integral-float-is-int", {"spec__analysis__stepWeight": 20.0}, lambda a: a.step_weight, 20),
    (
        "max-weight-is-last-step-weight",
        {"spec__analysis__stepWeight": DELETE, "spec__analysis__stepWeights": [1, 5, 25]},
        lambda a: (a.max_weight, a.step_weights),
        (25, (1, 5, 25)),
    ),
    (
        "blue-green-needs-no-step-weight",
        {"spec__analysis__stepWeight": DELETE, "spec__analysis__iterations": 10},
        lambda a: (a.strategy, a.iterations),
        (Strategy.BLUE_GREEN, 10),
    ),
    (
        "ab-testing",
        {
            "spec__analysis__stepWeight": DELETE,
            "spec__analysis__iterations": 10,
            "spec__analysis__match": [{"headers": {"x-canary": {"exact": "insider"}}}],
        },
        lambda a: a.strategy,
        Strategy.AB_TESTING,
    ),
    (
        "explicit-zero-ready-threshold-kept",
        {"spec__analysis__canaryReadyThreshold": 0},
        lambda a: a.canary_ready_threshold,
        0,
    ),
    (
        "legacy-custom-threshold-is-a-max",
        {"spec__analysis__metrics": [{"name": "errors", "threshold": 5, "templateRef": {"name": "errors"}}]},
        lambda a: (a.metrics[0].threshold_range, a.metrics[0].template_ref),
        (ThresholdRange(max=5), NamespacedRef("errors")),
    ),
    (
        "legacy-inline-query-kept",
        {"spec__analysis__metrics": [{"name": "errors", "threshold": 5, "query": "sum(up)"}]},
        lambda a: (a.metrics[0].threshold_range, a.metrics[0].query),
        (ThresholdRange(max=5), "sum(up)"),
    ),
    (
        "threshold-range-wins-over-legacy-threshold",
        {
            "spec__analysis__metrics": [
                {"name": "request-duration", "threshold": 500, "thresholdRange": {"max": 300}}
            ]
        },
        lambda a: a.metrics[0].threshold_range,
        ThresholdRange(max=300),
    ),
    (
        "session-affinity-max-age-default",
        {"spec__analysis__sessionAffinity": {"cookieName": "canary"}},
        lambda a: (a.session_affinity.cookie_name, a.session_affinity.max_age),
        ("canary", 86400),
    ),
    (
        "session-affinity-max-age-zero-means-a-day",
        {"spec__analysis__sessionAffinity": {"cookieName": "flagger-cookie", "maxAge": 0}},
        lambda a: (a.session_affinity.cookie_name, a.session_affinity.max_age),
        ("flagger-cookie", 86400),
    ),
    (
        "session-affinity-max-age",
        {"spec__analysis__sessionAffinity": {"cookieName": "c", "maxAge": 120}},
        lambda a: a.session_affinity.max_age,
        120,
    ),
]


@pytest.mark.parametrize(
    ("changes", "getter", "expected"), [a[1:] for a in ADJUSTED], ids=[a[0] for a in ADJUSTED]
)
def test_accepted_value(changes: dict[str, Any], getter: Any, expected: Any) -> None:
    assert getter(parse_canary(edited(minimal(), **changes)).spec.analysis) == expected


def test_analysis_wins_over_canary_analysis_when_both_are_given() -> None:
    doc = edited(minimal("flagger.app/v1alpha3"), spec__canaryAnalysis={"stepWeight": 0, "interval": "1x"})
    assert parse_canary(doc).spec.analysis.step_weight == 10


def test_canary_analysis_is_read_for_v1alpha3() -> None:
    doc = minimal("flagger.app/v1alpha3", analysis_key="canaryAnalysis")
    assert parse_canary(doc).spec.analysis.step_weight == 10


def test_raw_document_is_kept_for_round_trips() -> None:
    doc = minimal()
    assert parse_canary(doc).raw == doc


def test_parse_canary_yaml() -> None:
    text = (FIXTURES / "podinfo" / "canary-v1beta1.yaml").read_text()
    assert parse_canary_yaml(text) == fixture("canary-v1beta1.yaml")


def test_parse_canary_yaml_wants_exactly_one_document() -> None:
    text = (FIXTURES / "podinfo" / "canary-v1beta1.yaml").read_text()
    with pytest.raises(ValidationError) as info:
        parse_canary_yaml(text + "---\n" + text, source="two.yaml")
    assert str(info.value) == "invalid YAML: two.yaml: expected exactly one Canary document, found 2"
