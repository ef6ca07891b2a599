"""The CRDs, checked offline: Flagger's API in both Canary versions, one structural schema,
Flagger's printer columns, and room for everything gitflagger reads and writes."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.model.canary import WebhookType
from gitflagger.model.parse_analysis import ALERT_SEVERITIES
from gitflagger.model.status import Phase, State
from gitflagger.model.templates import AlertProviderType
from tests.unit.deploy.deploy_files import (
    ALERT_PROVIDER_CRD,
    CANARY_CRD,
    FIXTURES,
    FLAGGER_COLUMNS,
    METRIC_TEMPLATE_CRD,
    crd,
    populated_state,
    pruned_or_invalid,
    schema,
    structural_problems,
    version,
)

CANARY_FIXTURES = sorted([*FIXTURES.glob("podinfo/canary*.yaml"), *FIXTURES.glob("gatewayapi/canary*.yaml"),
                          *FIXTURES.glob("invalid/*.yaml")])
FLAGGER_STATUS_FIELDS = {
    "phase", "canaryWeight", "failedChecks", "iterations", "lastAppliedSpec", "lastPromotedSpec",
    "lastTrackedRevision", "trackedConfigs", "lastTransitionTime", "conditions",
    "sessionAffinityCookie", "primarySessionAffinityCookie", "previousSessionAffinityCookie",
}
GITFLAGGER_STATUS_FIELDS = {"lastStepTime", "lastCommit", "step", "mirrored"}


def _spec_schema() -> dict[str, Any]:
    spec: dict[str, Any] = schema(crd(CANARY_CRD))["properties"]["spec"]
    return spec


def test_canary_serves_v1beta1_and_v1alpha3_from_one_schema_without_conversion() -> None:
    canaries = crd(CANARY_CRD)
    spec = canaries["spec"]
    assert spec["group"] == "flagger.app" and spec["scope"] == "Namespaced"
    assert spec["names"] == {"kind": "Canary", "listKind": "CanaryList", "plural": "canaries",
                             "singular": "canary", "categories": ["all"]}
    assert spec["conversion"] == {"strategy": "None"}
    beta, alpha = version(canaries, "v1beta1"), version(canaries, "v1alpha3")
    assert [v["name"] for v in spec["versions"]] == ["v1beta1", "v1alpha3"]
    assert (beta["served"], beta["storage"]) == (True, True)
    assert (alpha["served"], alpha["storage"], alpha["deprecated"]) == (True, False, True)
    assert beta["schema"] == alpha["schema"]
    assert beta["subresources"] == alpha["subresources"] == {"status": {}}


def test_analysis_and_canary_analysis_are_the_same_block() -> None:
    properties = _spec_schema()["properties"]
    assert properties["canaryAnalysis"] == properties["analysis"]
    rule = _spec_schema()["x-kubernetes-validations"][0]["rule"]
    assert rule == "has(self.analysis) || has(self.canaryAnalysis)"
    assert _spec_schema()["required"] == ["targetRef"]


@pytest.mark.parametrize("name", [CANARY_CRD, METRIC_TEMPLATE_CRD, ALERT_PROVIDER_CRD])
def test_schemas_are_structural(name: str) -> None:
    for v in crd(name)["spec"]["versions"]:
        assert list(structural_problems(v["schema"]["openAPIV3Schema"])) == [], v["name"]


def test_printer_columns_are_flaggers() -> None:
    canaries = crd(CANARY_CRD)

    def columns(v: str) -> list[tuple[str, str, str, int]]:
        return [(c["name"], c["type"], c["jsonPath"], c.get("priority", 0))
                for c in version(canaries, v)["additionalPrinterColumns"]]

    assert columns("v1beta1") == FLAGGER_COLUMNS
    # v1alpha3 reads its own field name, so `kubectl get canaries.v1alpha3.flagger.app`
    # shows the tutorial's Canaries' analysis settings.
    assert columns("v1alpha3") == [(n, t, p.replace(".spec.analysis.", ".spec.canaryAnalysis."), prio)
                                   for n, t, p, prio in FLAGGER_COLUMNS]


def test_status_keeps_every_field_gitflagger_writes() -> None:
    state, unset = populated_state(), State()
    for f in fields(State):
        assert getattr(state, f.name) != getattr(unset, f.name), (
            f"populate State.{f.name} in populated_state() and declare its status field in the CRD"
        )
    status = state.to_status()
    status_schema = schema(crd(CANARY_CRD))["properties"]["status"]
    assert list(pruned_or_invalid(status_schema, status, ".status")) == []
    assert status.keys() >= GITFLAGGER_STATUS_FIELDS


def test_status_declares_flaggers_fields_and_gitflaggers() -> None:
    declared = set(schema(crd(CANARY_CRD))["properties"]["status"]["properties"])
    assert declared == FLAGGER_STATUS_FIELDS | GITFLAGGER_STATUS_FIELDS


def test_closed_sets_match_the_model() -> None:
    """Phases, webhook types, alert severities and alert providers: the CRD and the parser agree."""
    root = schema(crd(CANARY_CRD))
    analysis = root["properties"]["spec"]["properties"]["analysis"]["properties"]
    assert set(root["properties"]["status"]["properties"]["phase"]["enum"]) == {"", *(p.value for p in Phase)}
    webhook_types = analysis["webhooks"]["items"]["properties"]["type"]["enum"]
    assert set(webhook_types) == {"", *(t.value for t in WebhookType)}
    assert set(analysis["alerts"]["items"]["properties"]["severity"]["enum"]) == {"", *ALERT_SEVERITIES}
    provider_types = schema(crd(ALERT_PROVIDER_CRD))["properties"]["spec"]["properties"]["type"]["enum"]
    assert set(provider_types) == {t.value for t in AlertProviderType}


@pytest.mark.parametrize("path", CANARY_FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_canaries_are_kept_whole(path: Path) -> None:
    """Nothing in the project's Canaries would be pruned or refused by the schema: the invalid
    ones are well-formed (but for a missing targetRef, which Flagger's CRD refuses too), so
    they reach the controller, which names the problem in a Warning event. The typos of
    unknown-fields.yaml are what the server would drop and the parser refuses in a file."""
    (doc,) = load_documents([path])
    expected = {
        "missing-target-ref.yaml": [".spec.targetRef: required"],
        "unknown-fields.yaml": [
            ".spec.servce: not in the schema",
            ".spec.analysis.stepWeigth: not in the schema",
        ],
    }.get(path.name, [])
    assert list(pruned_or_invalid(schema(crd(CANARY_CRD)), doc)) == expected


def test_metric_template_keeps_flaggers_fields() -> None:
    template = {
        "apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "error-rate", "namespace": "istio-system"},
        "spec": {
            "provider": {"type": "prometheus", "address": "https://prometheus.example.com",
                         "secretRef": {"name": "prom-auth"}, "headers": {"X-Scope-OrgID": ["team-a"]},
                         "insecureSkipVerify": True},
            "query": 'sum(rate(x{namespace="{{ namespace }}"}[{{ interval }}]))',
        },
    }
    root = schema(crd(METRIC_TEMPLATE_CRD))
    assert list(pruned_or_invalid(root, template)) == []
    assert root["properties"]["spec"]["required"] == ["query"]


def test_alert_provider_keeps_flaggers_fields() -> None:
    provider = {
        "apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
        "metadata": {"name": "on-call", "namespace": "flagger"},
        "spec": {"type": "slack", "channel": "on-call-alerts", "username": "gitflagger",
                 "address": "https://hooks.slack.com/services/T/B/X", "proxy": "http://proxy:3128",
                 "secretRef": {"name": "on-call-url"}},
    }
    root = schema(crd(ALERT_PROVIDER_CRD))
    assert list(pruned_or_invalid(root, provider)) == []
    rule = root["properties"]["spec"]["x-kubernetes-validations"][0]["rule"]
    assert rule == "has(self.address) || has(self.secretRef)"
