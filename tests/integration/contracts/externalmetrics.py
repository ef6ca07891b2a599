"""An external metrics API server (``external.metrics.k8s.io/v1beta1``) at ``spec.provider.address``.

API reference: https://github.com/kubernetes/design-proposals-archive/blob/main/instrumentation/external-metrics-api.md
and the types in https://github.com/kubernetes/metrics/blob/master/pkg/apis/external_metrics/v1beta1/types.go
(a list of ``ExternalMetricValue`` whose ``value`` is a quantity); errors are
Kubernetes ``Status`` objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tests.integration.contracts.base import RETRY_AFTER, Contract, expect, expect_secret
from tests.unit.adapters.loopback import Reply, Request

QUERY = "mesh/podinfo_error_rate?labelSelector=app%3Dpodinfo%2Crole%3Dcanary"
API = "/apis/external.metrics.k8s.io/v1beta1"


def _checker(path: str, selector: list[str] | None) -> Callable[[Request, Mapping[str, str]], list[str]]:
    def check(req: Request, creds: Mapping[str, str]) -> list[str]:
        problems: list[str] = []
        expect(problems, "method", req.method, "GET")
        expect_secret(problems, "Authorization", req.headers.get("authorization"), f"Bearer {creds['token']}")
        expect(problems, "path", req.path.split("?")[0], path)
        expect(problems, "query", req.query, {"labelSelector": selector} if selector else {})
        return problems

    return check


def _items(*values: str | None) -> dict[str, object]:
    items = [
        {
            "metricName": "podinfo_error_rate",
            "metricLabels": {"app": "podinfo"},
            "timestamp": "2026-12-06T20:00:00Z",
            **({"value": v} if v is not None else {}),
        }
        for v in values
    ]
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": "external.metrics.k8s.io/v1beta1",
        "metadata": {},
        "items": items,
    }


def _status(code: int, reason: str, message: str) -> dict[str, object]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


CONTRACT = Contract(
    provider="externalmetrics",
    api_page="https://github.com/kubernetes/design-proposals-archive/blob/main/instrumentation/external-metrics-api.md",
    query=QUERY,
    interval="1m",
    expected_value=1.5,
    check=_checker(f"{API}/namespaces/mesh/podinfo_error_rate", ["app=podinfo,role=canary"]),
    online_check=_checker(f"{API}/namespaces/kube-system/dummy-metric", None),
    answers={
        # the first item's quantity is read
        "value": Reply(200, _items("1500m", "7")),
        "empty": Reply(200, _items()),
        "null": Reply(200, _items(None)),
        "error": Reply(
            404, _status(404, "NotFound", 'the server could not find the metric "podinfo_error_rate"')
        ),
        "401": Reply(401, _status(401, "Unauthorized", "Unauthorized")),
        "403": Reply(403, _status(403, "Forbidden", "externalmetrics is forbidden")),
        "429": Reply(
            429, _status(429, "TooManyRequests", "too many requests"), headers={"Retry-After": RETRY_AFTER}
        ),
    },
    credentials=lambda key: {"token": key},
)
