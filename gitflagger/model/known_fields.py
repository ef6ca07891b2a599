"""The field trees of the Canary, MetricTemplate and AlertProvider schemas, and the check that refuses
a field outside them.

A Canary read from a file keeps every key its author typed; in a cluster the API
server would prune an unknown one (or refuse it, under kubectl's strict field
validation). A typo such as ``spec.analysis.stepWeigth`` would otherwise be
parsed as if absent and render a different rollout than the author meant, so
each unknown field is a problem naming its path, reported with every other
problem of the document.

:data:`CANARY_FIELDS` mirrors the shipped CRD (``deploy/crds/canaries.yaml``;
both served versions share one schema) and is kept as data here because the
model does no file I/O; ``tests/unit/model/test_known_fields.py`` checks that it
equals the CRD's tree, so the two cannot drift. A list's fields are those of its
items. ``None`` marks a field whose content is not checked: a scalar, a map
(labels, annotations, webhook ``metadata``, ``templateVariables``) or an Istio
pass-through block the schema keeps open (``x-kubernetes-preserve-unknown-fields``).
``metadata`` and ``status`` are open as a whole: the API server owns them. The
content of a field refused as a whole (:data:`gitflagger.model.refused.REFUSED`)
is not checked: one line asks to remove it.

Canaries read from the cluster go through the same check; the API server has
pruned them already, so it never fires there, and one check is simpler than two.
MetricTemplates and AlertProviders (:func:`unknown_fields`, called by
:mod:`gitflagger.model.templates`) are checked the same way against
:data:`METRIC_TEMPLATE_FIELDS` and :data:`ALERT_PROVIDER_FIELDS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from gitflagger.errors import FieldProblem
from gitflagger.model.fields import Problems, join
from gitflagger.model.refused import REFUSED

FieldTree = dict[str, "FieldTree | None"]


def _open(names: str) -> FieldTree:
    return dict.fromkeys(names.split())


_REF = _open("apiVersion kind name namespace")
_SERVICE_METADATA = _open("labels annotations")
_ANALYSIS: FieldTree = {
    **_open(
        "interval threshold iterations maxWeight stepWeight stepWeights stepWeightPromotion"
        " mirror mirrorWeight primaryReadyThreshold canaryReadyThreshold match"
    ),
    "metrics": {
        **_open("name interval threshold"),
        "thresholdRange": _open("min max"),
        "query": None,
        "templateRef": _open("name namespace"),
        "templateVariables": None,
    },
    "webhooks": _open("name type url timeout retries disableTLS muteAlert metadata"),
    "alerts": {**_open("name severity"), "providerRef": _open("name namespace")},
    "sessionAffinity": _open(
        "cookieName primaryCookieName maxAge domain path httpOnly secure partitioned sameSite"
    ),
}

SPEC_FIELDS: FieldTree = {
    **_open("provider metricsServer progressDeadlineSeconds"),
    "targetRef": _open("apiVersion kind name"),
    "autoscalerRef": {
        **_open("apiVersion kind name primaryScalerQueries"),
        "primaryScalerReplicas": _open("minReplicas maxReplicas"),
    },
    "ingressRef": dict(_REF),
    "routeRef": dict(_REF),
    "upstreamRef": dict(_REF),
    "service": {
        **_open(
            "name port portName targetPort portDiscovery appProtocol trafficDistribution headless"
            " timeout backendTimeout meshName backends delegation gateways hosts match retries"
            " headers corsPolicy rewrite trafficPolicy mirror gatewayRefs"
        ),
        "apex": dict(_SERVICE_METADATA),
        "primary": dict(_SERVICE_METADATA),
        "canary": dict(_SERVICE_METADATA),
        "unmanagedMetadata": dict(_SERVICE_METADATA),
    },
    **_open("skipAnalysis suspend revertOnDeletion"),
    "analysis": _ANALYSIS,
    "canaryAnalysis": _ANALYSIS,
}
"""The fields under ``spec``, for ``flagger.app/v1beta1`` and ``v1alpha3`` alike."""

CANARY_FIELDS: FieldTree = {**_open("apiVersion kind metadata status"), "spec": SPEC_FIELDS}
"""The fields of a whole Canary document."""

METRIC_TEMPLATE_FIELDS: FieldTree = {
    **_open("apiVersion kind metadata"),
    "spec": {
        "provider": {**_open("type address headers region insecureSkipVerify"), "secretRef": _open("name")},
        "query": None,
    },
}
"""The fields of a MetricTemplate (``deploy/crds/metrictemplates.yaml``); ``headers`` is a free map.
Neither it nor :data:`ALERT_PROVIDER_FIELDS` has a ``status``: their CRDs declare none."""

ALERT_PROVIDER_FIELDS: FieldTree = {
    **_open("apiVersion kind metadata"),
    "spec": {**_open("type address channel username proxy"), "secretRef": _open("name")},
}
"""The fields of an AlertProvider (``deploy/crds/alertproviders.yaml``)."""


_REFUSED_PATHS = frozenset(join(parent, key) for parent, fields in REFUSED.items() for key in fields)
"""Fields refused as a whole (:mod:`gitflagger.model.refused`): their content is not looked at."""


def refuse_unknown(p: Problems, doc: Mapping[str, Any]) -> None:
    """Add one problem for each field of ``doc`` that :data:`CANARY_FIELDS` does not know."""
    _walk(p, doc, CANARY_FIELDS, "", "Canary")


def unknown_fields(doc: Mapping[str, Any], known: FieldTree, kind: str) -> list[FieldProblem]:
    """One problem per field of ``doc`` outside ``known``; ``kind`` names the document in the message."""
    p = Problems()
    _walk(p, doc, known, "", kind)
    return p.items


def _walk(p: Problems, value: Any, known: FieldTree, path: str, kind: str) -> None:
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if isinstance(item, Mapping):  # a list in a list is a type error, reported elsewhere
                _walk(p, item, known, join(path, i), kind)
        return
    if not isinstance(value, Mapping):
        return  # a wrong type is the typed readers' problem, reported by them
    for key, child in value.items():
        if not isinstance(key, str):
            p.add(join(path, str(key)), "is not a field name (keys must be strings)")
        elif key not in known:
            p.add(join(path, key), _unknown(key, known, kind))
        else:
            sub, child_path = known[key], join(path, key)
            if sub is not None and child_path not in _REFUSED_PATHS:
                _walk(p, child, sub, child_path, kind)


def _unknown(key: str, known: FieldTree, kind: str) -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"is not a {kind} field (the API server would drop it){hint}"
