"""Canary validation: every rule's exact message and path, all problems at once, garbage in."""

from __future__ import annotations

from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary
from tests.unit.model.canaries import DELETE, edited, minimal, problems_of

A = "spec.analysis"
HOW = "(use a number with a unit: ns, us, ms, s, m, h, e.g. 30s or 1m30s)"
HOOK = {"name": "load-test", "url": "http://flagger-loadtester.test/"}
ERRORS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "unknown-api-version",
        {"apiVersion": "flagger.app/v1"},
        ['apiVersion: unsupported "flagger.app/v1", expected flagger.app/v1beta1 or flagger.app/v1alpha3'],
    ),
    ("missing-api-version", {"apiVersion": DELETE}, ["apiVersion: is required"]),
    ("wrong-kind", {"kind": "Deployment"}, ['kind: must be Canary, got "Deployment"']),
    ("missing-name", {"metadata__name": DELETE}, ["metadata.name: is required"]),
    (
        "name-not-rfc1123",
        {"metadata__name": "../Podinfo"},
        ["metadata.name: must be a lowercase RFC 1123 name (a-z, 0-9, '-' and '.'), got \"../Podinfo\""],
    ),
    (
        "label-not-a-string",
        {"metadata__labels": {"tier": 1}},
        ["metadata.labels.tier: must be a string, got 1"],
    ),
    (
        "dotted-label-key-is-quoted",
        {"metadata__labels": {"app.kubernetes.io/name": None}},
        ['metadata.labels["app.kubernetes.io/name"]: must be a string, got null'],
    ),
    (
        "newline-in-key-stays-one-line",
        {"spec__analysis__webhooks": [{**HOOK, "metadata": {"a\nb": 1}}]},
        ['spec.analysis.webhooks[0].metadata["a\\nb"]: must be a string, got 1'],
    ),
    ("missing-target-ref", {"spec__targetRef": DELETE}, ["spec.targetRef: is required"]),
    (
        "target-ref-not-deployment-or-daemonset",
        {"spec__targetRef__kind": "StatefulSet"},
        ['spec.targetRef.kind: unsupported "StatefulSet": gitflagger rolls out a Deployment or a DaemonSet'],
    ),
    ("target-ref-without-name", {"spec__targetRef__name": DELETE}, ["spec.targetRef.name: is required"]),
    ("target-ref-without-kind", {"spec__targetRef__kind": DELETE}, ["spec.targetRef.kind: is required"]),
    (
        "autoscaler-not-hpa-or-scaledobject",
        {"spec__autoscalerRef": {"kind": "VerticalPodAutoscaler", "name": "podinfo"}},
        [
            'spec.autoscalerRef.kind: unsupported "VerticalPodAutoscaler": '
            "use HorizontalPodAutoscaler or a KEDA ScaledObject"
        ],
    ),
    (
        "extra-mirror-backends",
        {"spec__service__mirror": [{"backendRef": {"name": "shadow"}}]},
        ["spec.service.mirror: extra mirror backends are not rendered; use analysis.mirror"],
    ),
    ("service-port-missing", {"spec__service__port": DELETE}, ["spec.service.port: is required"]),
    (
        "service-port-too-big",
        {"spec__service__port": 70000},
        ["spec.service.port: must be between 1 and 65535, got 70000"],
    ),
    (
        "service-port-a-string",
        {"spec__service__port": "http"},
        ['spec.service.port: must be an integer, got "http"'],
    ),
    ("missing-service", {"spec__service": DELETE}, ["spec.service: is required"]),
    (
        "deadline-zero",
        {"spec__progressDeadlineSeconds": 0},
        ["spec.progressDeadlineSeconds: must be at least 1, got 0"],
    ),
    (
        "skip-analysis-a-string",
        {"spec__skipAnalysis": "yes"},
        ['spec.skipAnalysis: must be true or false, got "yes"'],
    ),
    ("analysis-missing", {"spec__analysis": DELETE}, ["spec.analysis: is required"]),
    ("analysis-a-list", {"spec__analysis": [1]}, ["spec.analysis: must be a mapping, got a list"]),
    (
        "step-weight-zero",
        {"spec__analysis__stepWeight": 0},
        [f"{A}.stepWeight: must be between 1 and 100, got 0"],
    ),
    (
        "step-weight-a-string",
        {"spec__analysis__stepWeight": "10"},
        [f'{A}.stepWeight: must be an integer, got "10"'],
    ),
    (
        "max-weight-a-bool",
        {"spec__analysis__maxWeight": True},
        [f"{A}.maxWeight: must be an integer, got true"],
    ),
    (
        "max-weight-too-big",
        {"spec__analysis__maxWeight": 101},
        [f"{A}.maxWeight: must be between 1 and 100, got 101"],
    ),
    (
        "max-below-step",
        {"spec__analysis__maxWeight": 5},
        [f"{A}.maxWeight: must be at least stepWeight (10), got 5"],
    ),
    (
        "step-weights-repeat",
        {"spec__analysis__stepWeight": DELETE, "spec__analysis__stepWeights": [10, 10]},
        [f"{A}.stepWeights: must be strictly increasing, got [10, 10]"],
    ),
    (
        "step-weights-out-of-range",
        {"spec__analysis__stepWeight": DELETE, "spec__analysis__stepWeights": [50, 101]},
        [f"{A}.stepWeights[1]: must be between 1 and 100, got 101"],
    ),
    (
        "step-weight-and-step-weights",
        {"spec__analysis__stepWeights": [10, 20]},
        [f"{A}.stepWeights: set either stepWeight or stepWeights, not both"],
    ),
    (
        "no-way-to-advance",
        {"spec__analysis__stepWeight": DELETE},
        [f"{A}: set stepWeight or stepWeights for a canary release, or iterations for A/B or blue/green"],
    ),
    (
        "interval-bad",
        {"spec__analysis__interval": "1x"},
        [f'{A}.interval: invalid duration "1x" {HOW}'],
    ),
    (
        "newline-in-duration-stays-one-line",
        {"spec__analysis__interval": "1\nx"},
        [f'{A}.interval: invalid duration "1\\nx" {HOW}'],
    ),
    (
        "interval-a-number",
        {"spec__analysis__interval": 60},
        [f"{A}.interval: must be a duration such as 30s or 1m, got 60"],
    ),
    ("threshold-negative", {"spec__analysis__threshold": -1}, [f"{A}.threshold: must be at least 0, got -1"]),
    (
        "iterations-negative",
        {"spec__analysis__iterations": -2},
        [f"{A}.iterations: must be at least 0, got -2"],
    ),
    (
        "mirror-weight-too-big",
        {"spec__analysis__mirrorWeight": 150},
        [f"{A}.mirrorWeight: must be between 0 and 100, got 150"],
    ),
    (
        "unknown-metric",
        {"spec__analysis__metrics": [{"name": "error-rate", "thresholdRange": {"max": 1}}]},
        [
            f'{A}.metrics[0].name: unknown metric "error-rate" (built-ins are request-success-rate and '
            "request-duration); set templateRef to use a MetricTemplate"
        ],
    ),
    (
        "metric-range-inverted",
        {"spec__analysis__metrics": [{"name": "request-duration", "thresholdRange": {"min": 5, "max": 1}}]},
        [f"{A}.metrics[0].thresholdRange: min (5) must not be greater than max (1)"],
    ),
    (
        "metric-range-empty",
        {"spec__analysis__metrics": [{"name": "request-duration", "thresholdRange": {}}]},
        [f"{A}.metrics[0].thresholdRange: set min, max or both"],
    ),
    (
        "metric-without-bounds",
        {"spec__analysis__metrics": [{"name": "request-duration"}]},
        [f"{A}.metrics[0].thresholdRange: is required (or the legacy threshold)"],
    ),
    (
        "metric-threshold-a-string",
        {"spec__analysis__metrics": [{"name": "request-duration", "threshold": "500ms"}]},
        [f'{A}.metrics[0].threshold: must be a number, got "500ms"'],
    ),
    (
        "metric-not-a-mapping",
        {"spec__analysis__metrics": ["request-success-rate"]},
        [f'{A}.metrics[0]: must be a mapping, got "request-success-rate"'],
    ),
    (
        "metrics-not-a-list",
        {"spec__analysis__metrics": {"name": "x"}},
        [f"{A}.metrics: must be a list, got a mapping"],
    ),
    (
        "webhook-unknown-type",
        {"spec__analysis__webhooks": [{**HOOK, "type": "pre"}]},
        [
            f'{A}.webhooks[0].type: unknown webhook type "pre", expected one of confirm-rollout, '
            "pre-rollout, rollout, confirm-traffic-increase, confirm-promotion, post-rollout, rollback, event"
        ],
    ),
    (
        "webhook-without-url",
        {"spec__analysis__webhooks": [{"name": "gate"}]},
        [f"{A}.webhooks[0].url: is required"],
    ),
    (
        "webhook-without-name",
        {"spec__analysis__webhooks": [{"url": "http://gate.test/"}]},
        [f"{A}.webhooks[0].name: is required"],
    ),
    (
        "webhook-url-without-scheme",
        {"spec__analysis__webhooks": [{**HOOK, "url": "flagger-loadtester.test"}]},
        [f'{A}.webhooks[0].url: must be an http:// or https:// URL, got "flagger-loadtester.test"'],
    ),
    (
        "webhook-timeout-a-number",
        {"spec__analysis__webhooks": [{**HOOK, "timeout": 5}]},
        [f"{A}.webhooks[0].timeout: must be a duration such as 30s or 1m, got 5"],
    ),
    (
        "webhook-names-duplicate",
        {"spec__analysis__webhooks": [HOOK, {**HOOK, "type": "pre-rollout"}]},
        [f'{A}.webhooks[1].name: duplicate webhook name "load-test" (also webhooks[0])'],
    ),
    (
        "alert-severity-unknown",
        {
            "spec__analysis__alerts": [
                {"name": "on-call", "severity": "critical", "providerRef": {"name": "slack"}}
            ]
        },
        [f'{A}.alerts[0].severity: must be info, warn or error, got "critical"'],
    ),
    (
        "alert-without-provider",
        {"spec__analysis__alerts": [{"name": "on-call"}]},
        [f"{A}.alerts[0].providerRef: is required"],
    ),
    (
        "session-affinity-without-cookie",
        {"spec__analysis__sessionAffinity": {"maxAge": 60}},
        [f"{A}.sessionAffinity.cookieName: is required"],
    ),
    (
        "session-affinity-cookie-name-with-equals",
        {"spec__analysis__sessionAffinity": {"cookieName": "a=b"}},
        [
            f"{A}.sessionAffinity.cookieName: must be a cookie name "
            '(letters, digits and !#$%&\'*+-.^_`|~), got "a=b"'
        ],
    ),
    (
        "session-affinity-cookie-name-with-space",
        {"spec__analysis__sessionAffinity": {"cookieName": "my cookie"}},
        [
            f"{A}.sessionAffinity.cookieName: must be a cookie name "
            '(letters, digits and !#$%&\'*+-.^_`|~), got "my cookie"'
        ],
    ),
    (
        "session-affinity-negative-max-age",
        {"spec__analysis__sessionAffinity": {"cookieName": "c", "maxAge": -1}},
        [f"{A}.sessionAffinity.maxAge: must be at least 0, got -1"],
    ),
    (
        "session-affinity-primary-cookie-same-as-cookie",
        {"spec__analysis__sessionAffinity": {"cookieName": "c", "primaryCookieName": "c", "secure": True}},
        [f'{A}.sessionAffinity.primaryCookieName: must differ from cookieName ("c")'],
    ),
    (
        "session-affinity-primary-cookie-not-a-name",
        {"spec__analysis__sessionAffinity": {"cookieName": "c", "primaryCookieName": "p;q"}},
        [
            f"{A}.sessionAffinity.primaryCookieName: must be a cookie name "
            '(letters, digits and !#$%&\'*+-.^_`|~), got "p;q"'
        ],
    ),
    (
        "session-affinity-cookie-attributes",
        {
            "spec__analysis__sessionAffinity": {
                "cookieName": "c",
                "sameSite": "strict",
                "path": "/; Domain=evil.test",
                "domain": "a b",
                "secure": "yes",
            }
        },
        [
            f"{A}.sessionAffinity.domain: must be printable ASCII without spaces or ';', got \"a b\"",
            f"{A}.sessionAffinity.path: must be printable ASCII without spaces or ';', "
            'got "/; Domain=evil.test"',
            f'{A}.sessionAffinity.sameSite: must be Strict, Lax or None, got "strict"',
            f'{A}.sessionAffinity.secure: must be true or false, got "yes"',
        ],
    ),
    (
        "primary-scaler-replicas-min-above-max",
        {
            "spec__autoscalerRef": {
                "kind": "HorizontalPodAutoscaler",
                "name": "podinfo",
                "primaryScalerReplicas": {"minReplicas": 5, "maxReplicas": 2},
            }
        },
        [
            "spec.autoscalerRef.primaryScalerReplicas.minReplicas: "
            "must not be greater than maxReplicas (2), got 5"
        ],
    ),
    (
        "primary-scaler-replicas-zero",
        {
            "spec__autoscalerRef": {
                "kind": "HorizontalPodAutoscaler",
                "name": "podinfo",
                "primaryScalerReplicas": {"maxReplicas": 0},
            }
        },
        ["spec.autoscalerRef.primaryScalerReplicas.maxReplicas: must be at least 1, got 0"],
    ),
    (
        "unmanaged-metadata-key-also-set",
        {
            "spec__service__apex": {"annotations": {"owner": "team-a"}},
            "spec__service__unmanagedMetadata": {"labels": ["team"], "annotations": ["x", "owner"]},
        },
        [
            'spec.service.unmanagedMetadata.annotations[1]: "owner" is also set by '
            "spec.service.apex.annotations; gitflagger cannot both write it and leave it alone"
        ],
    ),
    (
        "unmanaged-metadata-not-strings",
        {"spec__service__unmanagedMetadata": {"labels": [1]}},
        ["spec.service.unmanagedMetadata.labels[0]: must be a string, got 1"],
    ),
]


@pytest.mark.parametrize(("changes", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_invalid_canary(changes: dict[str, Any], expected: list[str]) -> None:
    assert problems_of(edited(minimal(), **changes)) == expected


def test_v1alpha3_paths_use_canary_analysis() -> None:
    doc = edited(
        minimal("flagger.app/v1alpha3", analysis_key="canaryAnalysis"), spec__canaryAnalysis__stepWeight=0
    )
    assert problems_of(doc) == ["spec.canaryAnalysis.stepWeight: must be between 1 and 100, got 0"]


def test_every_problem_is_reported_at_once() -> None:
    doc = edited(
        minimal(),
        spec__targetRef=DELETE,
        spec__analysis__stepWeight=0,
        spec__analysis__interval="1x",
        spec__analysis__webhooks=[HOOK, HOOK],
        spec__analysis__alerts=[{"name": "a", "severity": "loud", "providerRef": {"name": "slack"}}],
    )
    assert problems_of(doc) == [
        "spec.targetRef: is required",
        f'{A}.interval: invalid duration "1x" {HOW}',
        f"{A}.stepWeight: must be between 1 and 100, got 0",
        f'{A}.webhooks[1].name: duplicate webhook name "load-test" (also webhooks[0])',
        f'{A}.alerts[0].severity: must be info, warn or error, got "loud"',
    ]


def test_error_message_names_the_canary() -> None:
    with pytest.raises(ValidationError) as info:
        parse_canary(edited(minimal(), spec__analysis__stepWeight=0))
    assert str(info.value) == (
        "invalid Canary test/podinfo: spec.analysis.stepWeight: must be between 1 and 100, got 0"
    )


GARBAGE: list[tuple[str, object, list[str]]] = [
    ("a-list", [], ["(document): must be a Canary mapping, got a list"]),
    ("a-string", "kind: Canary", ['(document): must be a Canary mapping, got "kind: Canary"']),
    ("null", None, ["(document): must be a Canary mapping, got null"]),
    ("a-number", 42, ["(document): must be a Canary mapping, got 42"]),
    (
        "empty-mapping",
        {},
        ["apiVersion: is required", "kind: is required", "metadata: is required", "spec: is required"],
    ),
    ("spec-null", edited(minimal(), spec=None), ["spec: is required"]),
    ("spec-a-string", edited(minimal(), spec="podinfo"), ['spec: must be a mapping, got "podinfo"']),
    ("metadata-a-list", edited(minimal(), metadata=["podinfo"]), ["metadata: must be a mapping, got a list"]),
    ("api-version-a-number", edited(minimal(), apiVersion=1), ["apiVersion: must be a string, got 1"]),
]


@pytest.mark.parametrize(("doc", "expected"), [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_is_a_validation_error(doc: object, expected: list[str]) -> None:
    assert problems_of(doc) == expected
