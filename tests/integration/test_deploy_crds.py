"""deploy/crds on a real API server: Flagger's Canaries in both versions are stored whole,
gitflagger's status fields survive the status subresource, and `kubectl get canaries`
shows Flagger's columns."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.model.parse import parse_canary
from gitflagger.model.status import State
from tests.testbed.cluster import Cluster
from tests.unit.deploy.deploy_files import (
    ALERT_PROVIDER_CRD,
    CANARY_CRD,
    FIXTURES,
    FLAGGER_COLUMNS,
    METRIC_TEMPLATE_CRD,
    populated_state,
)
from tests.unit.deploy.kube_http import MERGE, TABLE, KubeHttp, collection

pytestmark = pytest.mark.testbed

STRICT = {"fieldValidation": "Strict"}  # what kubectl apply sends: an unknown field is an error


@pytest.fixture(scope="module")
def admin(cluster: Cluster) -> Iterator[KubeHttp]:
    http = KubeHttp(cluster)
    try:
        yield http
    finally:
        http.close()


def fixture(relative: str, namespace: str, name: str | None = None) -> dict[str, Any]:
    (doc,) = load_documents([FIXTURES / relative])
    doc["metadata"]["namespace"] = namespace
    if name:
        doc["metadata"]["name"] = name
    return doc


def canaries(version: str, namespace: str) -> str:
    return collection(f"flagger.app/{version}", "Canary", namespace)


def create(admin: KubeHttp, doc: dict[str, Any]) -> dict[str, Any]:
    path = collection(doc["apiVersion"], doc["kind"], doc["metadata"]["namespace"])
    return admin.ok("POST", path, doc, params=STRICT)


def test_crds_are_established_as_shipped(admin: KubeHttp) -> None:
    for name in (CANARY_CRD, METRIC_TEMPLATE_CRD, ALERT_PROVIDER_CRD):
        crd = admin.ok("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == conditions["NamesAccepted"] == "True", (name, conditions)
        assert crd["status"]["acceptedNames"]["kind"] == crd["spec"]["names"]["kind"]
    canary = admin.ok("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CANARY_CRD}")
    assert canary["spec"]["conversion"] == {"strategy": "None"}
    assert [(v["name"], v["served"], v["storage"]) for v in canary["spec"]["versions"]] == [
        ("v1beta1", True, True), ("v1alpha3", True, False)]
    assert canary["status"]["storedVersions"] == ["v1beta1"]


@pytest.mark.parametrize("relative", ["podinfo/canary.yaml", "podinfo/canary-v1beta1.yaml"])
def test_fixture_canaries_read_back_whole_through_both_versions(
    admin: KubeHttp, namespace: str, relative: str
) -> None:
    sent = fixture(relative, namespace)
    r = admin.call("POST", canaries(sent["apiVersion"].split("/")[1], namespace), sent, params=STRICT)
    assert r.status_code == 201, r.text
    deprecated = sent["apiVersion"].endswith("v1alpha3")
    assert ("flagger.app/v1alpha3 Canary is deprecated" in r.headers.get("Warning", "")) == deprecated
    for version in ("v1beta1", "v1alpha3"):
        got = admin.ok("GET", f"{canaries(version, namespace)}/podinfo")
        assert got["apiVersion"] == f"flagger.app/{version}"
        assert got["spec"] == sent["spec"], f"read as {version}"
        # no conversion: the field name the author wrote is the one every version shows
        assert ("canaryAnalysis" in got["spec"]) == deprecated
        assert parse_canary(got).spec == parse_canary(sent).spec


def test_api_server_checks_shapes_and_leaves_meaning_to_the_controller(
    admin: KubeHttp, namespace: str
) -> None:
    base = fixture("podinfo/canary-v1beta1.yaml", namespace, "shapes")
    path = canaries("v1beta1", namespace)

    def rejected(doc: dict[str, Any], status: int, *needles: str) -> None:
        r = admin.call("POST", path, doc, params=STRICT)
        assert r.status_code == status, r.text
        for needle in needles:
            assert needle in r.json()["message"], r.json()["message"]

    no_analysis = copy.deepcopy(base)
    del no_analysis["spec"]["analysis"]
    rejected(no_analysis, 422, "set spec.analysis (flagger.app/v1beta1) or spec.canaryAnalysis")
    no_target = copy.deepcopy(base)
    del no_target["spec"]["targetRef"]
    rejected(no_target, 422, "spec.targetRef: Required value")
    wrong_type = copy.deepcopy(base)
    wrong_type["spec"]["analysis"]["stepWeight"] = "ten"
    rejected(wrong_type, 422, "spec.analysis.stepWeight", "integer")
    typo = copy.deepcopy(base)
    typo["spec"]["analysis"]["stepWieght"] = 10
    rejected(typo, 400, 'unknown field "spec.analysis.stepWieght"')
    bad_hook = copy.deepcopy(base)
    bad_hook["spec"]["analysis"]["webhooks"][0]["type"] = "pre-promotion"
    rejected(bad_hook, 422, "spec.analysis.webhooks[0].type", "Unsupported value")

    # Well-formed but wrong: the controller names the field in a Warning event.
    meaning = fixture("invalid/step-weights-not-increasing.yaml", namespace, "meaning")
    create(admin, meaning)


def test_status_subresource_keeps_gitflaggers_fields(admin: KubeHttp, namespace: str) -> None:
    create(admin, fixture("podinfo/canary-v1beta1.yaml", namespace))
    path = f"{canaries('v1beta1', namespace)}/podinfo"
    status = populated_state().to_status()
    assert {"lastStepTime", "lastCommit", "step", "mirrored"} <= status.keys()
    admin.ok("PATCH", f"{path}/status", {"status": status}, content_type=MERGE, params=STRICT)

    got = admin.ok("GET", path)
    assert got["status"] == status
    assert State.from_status(got["status"]) == populated_state()
    # Status goes through the subresource only: a write to the object leaves it alone.
    admin.ok("PATCH", path, {"status": {"phase": "Failed"}}, content_type=MERGE)
    assert admin.ok("GET", path)["status"] == status
    assert admin.ok("GET", f"{canaries('v1alpha3', namespace)}/podinfo")["status"] == status


Cells = dict[str, Any]


def _table(admin: KubeHttp, version: str, namespace: str) -> tuple[list[tuple[str, int]], dict[str, Cells]]:
    """(column name, priority) pairs, and each row's cells by column name, keyed by object name."""
    table = admin.ok("GET", canaries(version, namespace), accept=TABLE)
    assert table["kind"] == "Table"
    columns = [(c["name"], c.get("priority", 0)) for c in table["columnDefinitions"]]
    rows = {row["object"]["metadata"]["name"]: dict(zip([c for c, _ in columns], row["cells"], strict=True))
            for row in table["rows"]}
    return columns, rows


def test_kubectl_get_canaries_shows_flaggers_columns(admin: KubeHttp, namespace: str) -> None:
    create(admin, fixture("podinfo/canary.yaml", namespace, "tutorial"))
    create(admin, fixture("podinfo/canary-v1beta1.yaml", namespace, "current"))
    status = populated_state().to_status()
    for name in ("tutorial", "current"):
        admin.ok("PATCH", f"{canaries('v1beta1', namespace)}/{name}/status", {"status": status},
                 content_type=MERGE)

    columns, rows = _table(admin, "v1beta1", namespace)
    assert columns == [("Name", 0), *((n, p) for n, _, _, p in FLAGGER_COLUMNS)]
    for name in ("tutorial", "current"):
        cells = rows[name]
        assert (cells["Status"], cells["Weight"], cells["FailedChecks"]) == ("Progressing", "20", "1")
        assert cells["LastTransitionTime"] == status["lastTransitionTime"]
    assert (rows["current"]["Interval"], rows["current"]["StepWeight"], rows["current"]["MaxWeight"]) == (
        "1m", "10", "50")
    # Without conversion a column has one path: through v1beta1, a v1alpha3-shaped Canary's
    # analysis columns are empty; through v1alpha3 they are filled.
    assert rows["tutorial"]["Interval"] is None
    _, alpha_rows = _table(admin, "v1alpha3", namespace)
    assert (alpha_rows["tutorial"]["Interval"], alpha_rows["tutorial"]["MaxWeight"]) == ("1m", "50")


def test_metric_templates_and_alert_providers_round_trip(admin: KubeHttp, namespace: str) -> None:
    template: dict[str, Any] = {
        "apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate",
        "metadata": {"name": "error-rate", "namespace": namespace},
        "spec": {
            "provider": {"type": "prometheus", "address": "https://prometheus.example.com",
                         "secretRef": {"name": "prom-auth"}, "headers": {"X-Scope-OrgID": ["team-a"]},
                         "insecureSkipVerify": True},
            "query": 'sum(rate(x{namespace="{{ namespace }}",pod=~"{{ target }}-.+"}[{{ interval }}]))',
        },
    }
    provider: dict[str, Any] = {
        "apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
        "metadata": {"name": "on-call", "namespace": namespace},
        "spec": {"type": "slack", "channel": "on-call-alerts", "username": "gitflagger",
                 "address": "https://hooks.slack.com/services/T/B/X", "proxy": "http://proxy.example.com:3128",
                 "secretRef": {"name": "on-call-url"}},
    }
    for doc in (template, provider):
        create(admin, doc)
        path = collection(doc["apiVersion"], doc["kind"], namespace)
        got = admin.ok("GET", f"{path}/{doc['metadata']['name']}")
        assert got["spec"] == doc["spec"]

    providers = collection("flagger.app/v1beta1", "AlertProvider", namespace)
    nowhere = copy.deepcopy(provider)
    nowhere["metadata"]["name"] = "nowhere"
    del nowhere["spec"]["address"], nowhere["spec"]["secretRef"]
    r = admin.call("POST", providers, nowhere)
    assert r.status_code == 422 and "set spec.address, or spec.secretRef" in r.text
    pager = copy.deepcopy(provider)
    pager["metadata"]["name"] = "pager"
    pager["spec"]["type"] = "pagerduty"
    r = admin.call("POST", providers, pager)
    assert r.status_code == 422 and "spec.type: Unsupported value" in r.text
