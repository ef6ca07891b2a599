"""Datadog ``GET /api/v1/query`` and ``GET /api/v1/validate``.

API reference: https://docs.datadoghq.com/api/latest/metrics/#query-timeseries-points
and https://docs.datadoghq.com/api/latest/authentication/#validate-api-key
"""

from __future__ import annotations

from collections.abc import Mapping

from tests.integration.contracts.base import (
    RETRY_AFTER,
    Contract,
    expect,
    expect_params,
    expect_secret,
    one,
    recent,
)
from tests.unit.adapters.loopback import Reply, Request

QUERY = "sum:trace.http.request.errors{service:podinfo}.as_count()"


def _check(req: Request, creds: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    expect(problems, "method", req.method, "GET")
    expect_secret(problems, "DD-API-KEY", req.headers.get("dd-api-key"), creds["datadog_api_key"])
    expect(
        problems,
        "DD-APPLICATION-KEY",
        req.headers.get("dd-application-key"),
        creds["datadog_application_key"],
    )
    expect(problems, "path", req.path.split("?")[0], "/api/v1/query")
    q = req.query
    expect_params(q, {"query", "from", "to"}, problems)
    expect(problems, "query", one(q, "query", problems), QUERY)
    to = recent(one(q, "to", problems), 1, problems, "to")
    start = int(one(q, "from", problems) or 0)
    expect(problems, "to - from (10 x 1m)", to - start, 600)
    return problems


def _check_online(req: Request, creds: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    expect(problems, "request", (req.method, req.path), ("GET", "/api/v1/validate"))
    expect_secret(problems, "DD-API-KEY", req.headers.get("dd-api-key"), creds["datadog_api_key"])
    expect(
        problems,
        "DD-APPLICATION-KEY",
        req.headers.get("dd-application-key"),
        creds["datadog_application_key"],
    )
    return problems


def _series(*points: list[float | None]) -> dict[str, object]:
    return {
        "status": "ok",
        "res_type": "time_series",
        "query": QUERY,
        "series": [
            {"metric": "trace.http.request.errors", "pointlist": list(points), "scope": "service:podinfo"}
        ],
    }


CONTRACT = Contract(
    provider="datadog",
    api_page="https://docs.datadoghq.com/api/latest/metrics/#query-timeseries-points",
    query=QUERY,
    interval="1m",
    expected_value=1.25,
    check=_check,
    online_check=_check_online,
    answers={
        # the first (oldest) point is read, not the newest
        "value": Reply(200, _series([1700000000000.0, 1.25], [1700000060000.0, 9.5])),
        "empty": Reply(200, {"status": "ok", "res_type": "time_series", "series": [], "query": QUERY}),
        "null": Reply(200, _series([1700000000000.0, None])),
        "error": Reply(400, {"errors": ["Error parsing query: unable to parse sum:trace"]}),
        "401": Reply(401, {"errors": ["Unauthorized"]}),
        "403": Reply(403, {"errors": ["Forbidden"]}),
        "429": Reply(429, {"errors": ["Too many requests"]}, headers={"Retry-After": RETRY_AFTER}),
    },
    credentials=lambda key: {"datadog_api_key": key, "datadog_application_key": "app-" + key[::-1]},
)
