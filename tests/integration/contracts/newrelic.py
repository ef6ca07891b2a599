"""New Relic Insights query API: ``GET /v1/accounts/{id}/query?nrql=...``.

API reference: https://docs.newrelic.com/docs/apis/insights-apis/query-insights-event-data-api/
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tests.integration.contracts.base import RETRY_AFTER, Contract, expect, expect_params, expect_secret, one
from tests.unit.adapters.loopback import Reply, Request

QUERY = "SELECT filter(count(*), WHERE httpResponseCode >= '500') / count(*) * 100 FROM Transaction"


def _checker(nrql: str) -> Callable[[Request, Mapping[str, str]], list[str]]:
    def check(req: Request, creds: Mapping[str, str]) -> list[str]:
        problems: list[str] = []
        expect(problems, "method", req.method, "GET")
        expect_secret(problems, "X-Query-Key", req.headers.get("x-query-key"), creds["newrelic_query_key"])
        expect_secret(
            problems, "path", req.path.split("?")[0], f"/v1/accounts/{creds['newrelic_account_id']}/query"
        )
        expect_params(req.query, {"nrql"}, problems)
        expect(problems, "nrql", one(req.query, "nrql", problems), nrql)
        return problems

    return check


CONTRACT = Contract(
    provider="newrelic",
    api_page="https://docs.newrelic.com/docs/apis/insights-apis/query-insights-event-data-api/",
    query=QUERY,
    interval="1m",
    expected_value=0.75,
    check=_checker(QUERY + " SINCE 60 seconds ago"),
    online_check=_checker("SELECT * FROM Metric SINCE 60 seconds ago"),
    answers={
        "value": Reply(200, {"results": [{"result": 0.75}], "metadata": {"eventTypes": ["Transaction"]}}),
        "empty": Reply(200, {"results": [], "metadata": {}}),
        "null": Reply(200, {"results": [{"result": None}], "metadata": {}}),
        "error": Reply(400, {"error": "NRQL Syntax Error: Error at line 1 position 7"}),
        "401": Reply(401, {"error": "The query key provided is invalid."}),
        "403": Reply(403, {"error": "Forbidden"}),
        "429": Reply(429, {"error": "Rate limit exceeded"}, headers={"Retry-After": RETRY_AFTER}),
    },
    credentials=lambda key: {"newrelic_account_id": "1234567", "newrelic_query_key": key},
)
