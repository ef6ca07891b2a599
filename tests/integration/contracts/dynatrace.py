"""Dynatrace metrics API v2: ``GET /api/v2/metrics/query`` and ``GET /api/v2/metrics?pageSize=1``.

API reference: https://docs.dynatrace.com/docs/dynatrace-api/environment-api/metric-v2/get-data-points
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

QUERY = 'builtin:service.errors.total.rate:filter(eq("dt.entity.service","SERVICE-1"))'


def _auth(req: Request, creds: Mapping[str, str], problems: list[str]) -> None:
    expect_secret(
        problems, "Authorization", req.headers.get("authorization"), f"Api-Token {creds['dynatrace_token']}"
    )


def _check(req: Request, creds: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    expect(problems, "method", req.method, "GET")
    _auth(req, creds, problems)
    expect(problems, "path", req.path.split("?")[0], "/api/v2/metrics/query")
    q = req.query
    expect_params(q, {"metricSelector", "resolution", "from", "to"}, problems)
    expect(problems, "metricSelector", one(q, "metricSelector", problems), QUERY)
    expect(problems, "resolution", one(q, "resolution", problems), "Inf")
    to = recent(one(q, "to", problems), 1000, problems, "to")
    expect(problems, "to - from (10 x 30s, ms)", to - int(one(q, "from", problems) or 0), 300_000)
    expect(problems, "to in whole seconds", to % 1000, 0)
    return problems


def _check_online(req: Request, creds: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    expect(problems, "request", (req.method, req.path), ("GET", "/api/v2/metrics?pageSize=1"))
    _auth(req, creds, problems)
    return problems


def _result(*data: dict[str, object]) -> dict[str, object]:
    return {
        "totalCount": 1,
        "nextPageKey": None,
        "resolution": "Inf",
        "result": [
            {"metricId": QUERY, "dataPointCountRatio": 0.1, "dimensionCountRatio": 0.1, "data": list(data)}
        ],
    }


def _data(*values: float | None) -> dict[str, object]:
    return {
        "dimensions": [],
        "dimensionMap": {},
        "timestamps": [1700000000000] * len(values),
        "values": list(values),
    }


CONTRACT = Contract(
    provider="dynatrace",
    api_page="https://docs.dynatrace.com/docs/dynatrace-api/environment-api/metric-v2/get-data-points",
    query=QUERY,
    interval="30s",
    expected_value=2.5,
    check=_check,
    online_check=_check_online,
    answers={
        # the last data entry's first value is read
        "value": Reply(200, _result(_data(7.0), _data(2.5))),
        "empty": Reply(200, {"totalCount": 0, "nextPageKey": None, "resolution": "Inf", "result": []}),
        "null": Reply(200, _result(_data(None))),
        "error": Reply(400, {"error": {"code": 400, "message": "Cannot parse metric selector"}}),
        "401": Reply(401, {"error": {"code": 401, "message": "Token Authentication failed"}}),
        "403": Reply(403, {"error": {"code": 403, "message": "Token is missing required scope"}}),
        "429": Reply(
            429,
            {"error": {"code": 429, "message": "Too Many Requests"}},
            headers={"Retry-After": RETRY_AFTER},
        ),
    },
    credentials=lambda key: {"dynatrace_token": key},
)
