"""Graphite render API: ``GET /render?target=...&from=...&format=json``, with basic auth.

API reference: https://graphite.readthedocs.io/en/latest/render_api.html
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping

from tests.integration.contracts.base import RETRY_AFTER, Contract, expect, expect_secret
from tests.unit.adapters.loopback import Reply, Request

QUERY = """target=sumSeries(
    mesh.podinfo.errors)&from=-1min"""


def _checker(query: str) -> Callable[[Request, Mapping[str, str]], list[str]]:
    def check(req: Request, creds: Mapping[str, str]) -> list[str]:
        problems: list[str] = []
        expect(problems, "method", req.method, "GET")
        basic = base64.b64encode(f"{creds['username']}:{creds['password']}".encode()).decode()
        expect_secret(problems, "Authorization", req.headers.get("authorization"), f"Basic {basic}")
        # the query's whitespace collapsed, format=json added, parameters sorted by name (Go's Encode)
        expect(problems, "request target", req.path, f"/graphite/render?{query}")
        return problems

    return check


CONTRACT = Contract(
    provider="graphite",
    api_page="https://graphite.readthedocs.io/en/latest/render_api.html",
    query=QUERY,
    interval="1m",
    expected_value=3.0,
    check=_checker("format=json&from=-1min&target=sumSeries%28+mesh.podinfo.errors%29"),
    online_check=_checker("format=json&target=test"),
    answers={
        # the last non-null datapoint of all targets is read
        "value": Reply(
            200, [{"target": "a", "datapoints": [[1.0, 1700000000], [3.0, 1700000060], [None, 1700000120]]}]
        ),
        "empty": Reply(200, []),
        "null": Reply(200, [{"target": "a", "datapoints": [[None, 1700000000]]}]),
        "error": Reply(500, "<h1>Server Error (500)</h1>", headers={"Content-Type": "text/html"}),
        "401": Reply(401, "Unauthorized", headers={"Content-Type": "text/plain"}),
        "403": Reply(403, "Forbidden", headers={"Content-Type": "text/plain"}),
        "429": Reply(
            429, "Too Many Requests", headers={"Retry-After": RETRY_AFTER, "Content-Type": "text/plain"}
        ),
    },
    credentials=lambda key: {"username": "flagger", "password": key},
    address_path="/graphite",
)
