"""Reading deploy/ for the tests, and checking objects against a CRD schema without a cluster.

The unit tests and the testbed tests read the manifests through the same
helpers, so both check the files that ship, as the API server will see them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from gitflagger.adapters.files import load_documents
from gitflagger.model.status import Condition, Phase, State

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
CRDS = DEPLOY / "crds"
FIXTURES = REPO / "fixtures"

CONTROLLER_NAMESPACE = "gitflagger-system"
SERVICE_ACCOUNT = "gitflagger"

CANARY_CRD = "canaries.flagger.app"
METRIC_TEMPLATE_CRD = "metrictemplates.flagger.app"
ALERT_PROVIDER_CRD = "alertproviders.flagger.app"

# Flagger's printer columns (fluxcd/flagger artifacts/flagger/crd.yaml), in its order:
# (name, type, jsonPath, priority).
FLAGGER_COLUMNS = [
    ("Status", "string", ".status.phase", 0),
    ("Weight", "string", ".status.canaryWeight", 0),
    ("Suspended", "boolean", ".spec.suspend", 1),
    ("FailedChecks", "string", ".status.failedChecks", 1),
    ("Interval", "string", ".spec.analysis.interval", 1),
    ("Mirror", "boolean", ".spec.analysis.mirror", 1),
    ("StepWeight", "string", ".spec.analysis.stepWeight", 1),
    ("StepWeights", "string", ".spec.analysis.stepWeights", 1),
    ("MaxWeight", "string", ".spec.analysis.maxWeight", 1),
    ("LastTransitionTime", "string", ".status.lastTransitionTime", 0),
]


def docs(relative: str) -> list[dict[str, Any]]:
    """The documents of one file under deploy/."""
    return load_documents([DEPLOY / relative])


def crd(name: str) -> dict[str, Any]:
    for doc in load_documents(sorted(CRDS.glob("*.yaml"))):
        if doc["metadata"]["name"] == name:
            return doc
    raise LookupError(f"no CRD {name} under {CRDS}")


def version(crd_doc: Mapping[str, Any], name: str) -> dict[str, Any]:
    for v in crd_doc["spec"]["versions"]:
        if v["name"] == name:
            return dict(v)
    raise LookupError(f"{crd_doc['metadata']['name']} has no version {name}")


def schema(crd_doc: Mapping[str, Any], version_name: str = "v1beta1") -> dict[str, Any]:
    root: dict[str, Any] = version(crd_doc, version_name)["schema"]["openAPIV3Schema"]
    return root


def dashboard() -> dict[str, Any]:
    """deploy/grafana/canary-analysis.json."""
    loaded: dict[str, Any] = json.loads((DEPLOY / "grafana" / "canary-analysis.json").read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    """The dashboard's panels that show data (rows left out)."""
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def one(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


# ---- a CRD schema, checked offline ---------------------------------------------------------------

SCHEMA_KEYWORDS = frozenset({
    "type", "description", "properties", "items", "additionalProperties", "required", "enum", "format",
    "minimum", "maximum", "pattern", "default", "nullable", "maxItems", "minItems", "maxLength",
    "minLength", "x-kubernetes-preserve-unknown-fields", "x-kubernetes-int-or-string",
    "x-kubernetes-validations", "x-kubernetes-list-type", "x-kubernetes-map-type",
})


def structural_problems(node: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """What would make the API server call this schema non-structural, or a typo in a keyword.

    Every node needs a ``type`` (``x-kubernetes-int-or-string`` stands in for it),
    arrays need ``items``; an unknown key is usually a YAML slip (a comma in a flow
    mapping splits a description into a stray key).
    """
    where = path or "(root)"
    for key in node:
        if key not in SCHEMA_KEYWORDS:
            yield f"{where}: unknown schema keyword {key!r}"
    if "type" not in node and not node.get("x-kubernetes-int-or-string"):
        yield f"{where}: no type"
    if node.get("type") == "array" and "items" not in node:
        yield f"{where}: array without items"
    for key, child in (node.get("properties") or {}).items():
        yield from structural_problems(child, f"{path}.{key}")
    if isinstance(node.get("items"), Mapping):
        yield from structural_problems(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), Mapping):
        yield from structural_problems(node["additionalProperties"], f"{path}.*")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "boolean": (bool,), "integer": (int,), "number": (int, float),
    "object": (dict,), "array": (list,),
}


def pruned_or_invalid(node: Mapping[str, Any], value: Any, path: str = "") -> Iterator[str]:
    """Fields of ``value`` the API server would drop (undeclared) or reject (wrong type, missing).

    ``metadata`` at the root is the API server's own, so it is not walked.
    """
    where = path or "(root)"
    if node.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            yield f"{where}: {value!r} is neither an integer nor a string"
        return
    expected = _JSON_TYPES.get(node.get("type", ""), (object,))
    if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
        yield f"{where}: {value!r} is not {node.get('type')}"
        return
    if "enum" in node and value not in node["enum"]:
        yield f"{where}: {value!r} is not one of {node['enum']}"
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        for key in node.get("required", []):
            if key not in value:
                yield f"{path}.{key}: required"
        properties = node.get("properties") or {}
        extra = node.get("additionalProperties")
        for key, child in value.items():
            if path == "" and key == "metadata":
                continue
            if key in properties:
                yield from pruned_or_invalid(properties[key], child, f"{path}.{key}")
            elif isinstance(extra, Mapping):
                yield from pruned_or_invalid(extra, child, f"{path}.{key}")
            else:
                yield f"{path}.{key}: not in the schema"
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from pruned_or_invalid(node["items"], item, f"{path}[{i}]")


def populated_state() -> State:
    """A Canary state with every field set, so ``to_status()`` writes every key it can."""
    at = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
    return State(
        phase=Phase.PROGRESSING,
        canary_weight=20,
        failed_checks=1,
        iterations=2,
        last_applied_spec="sha256:" + "a" * 64,
        last_promoted_spec="sha256:" + "b" * 64,
        tracked_configs={"configmap/podinfo-env": "c" * 64, "secret/podinfo-token": "d" * 64},
        last_transition_time=at,
        last_step_time=at + timedelta(minutes=1),
        last_commit="0123456789abcdef0123456789abcdef01234567",
        step=3,
        mirrored=True,
        condition=Condition(status="Unknown", reason="Progressing",
                            message="New revision detected podinfo.test",
                            last_update_time=at, last_transition_time=at),
        session_affinity_cookie="flagger-cookie=LIbQWwnzdh",
        previous_session_affinity_cookie="flagger-cookie=OldOldOldO",
        primary_session_affinity_cookie="flagger-primary=PrimaryXYZ",
    )
