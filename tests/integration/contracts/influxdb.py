"""InfluxDB 2 Flux query API: ``POST /api/v2/query?org=...``, annotated CSV back.

API reference: https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery
(and https://docs.influxdata.com/influxdb/v2/reference/syntax/annotated-csv/ for the answer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from tests.integration.contracts.base import RETRY_AFTER, Contract, expect, expect_params, expect_secret, one
from tests.unit.adapters.loopback import Reply, Request

QUERY = 'from(bucket: "mesh") |> range(start: -1m) |> filter(fn: (r) => r._measurement == "errors") |> mean()'
ONLINE = 'from(bucket: "default") |> range(start: -2h)'
DIALECT = {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": True}


def _checker(flux: str) -> Callable[[Request, Mapping[str, str]], list[str]]:
    def check(req: Request, creds: Mapping[str, str]) -> list[str]:
        problems: list[str] = []
        expect(problems, "method", req.method, "POST")
        expect(problems, "path", req.path.split("?")[0], "/api/v2/query")
        expect_secret(problems, "Authorization", req.headers.get("authorization"), f"Token {creds['token']}")
        expect(problems, "Content-Type", req.headers.get("content-type"), "application/json")
        expect_params(req.query, {"org"}, problems)
        expect(problems, "org", one(req.query, "org", problems), creds["org"])
        try:
            body = json.loads(req.body)
        except ValueError:
            return [*problems, "body is not JSON"]
        expect(problems, "body", body, {"query": flux, "type": "flux", "dialect": DIALECT})
        return problems

    return check


def _csv(datatype: str, value: str) -> str:
    return (
        f"#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,{datatype},string,string\r\n"
        "#group,false,false,true,true,false,true,true\r\n"
        "#default,_result,,,,,,\r\n"
        ",result,table,_start,_stop,_value,_field,_measurement\r\n"
        f",,0,2026-12-06T20:00:00Z,2026-12-06T20:01:00Z,{value},value,errors\r\n"
        "\r\n"
    )


CSV = {"Content-Type": "text/csv; charset=utf-8"}
CONTRACT = Contract(
    provider="influxdb",
    api_page="https://docs.influxdata.com/influxdb/v2/api/#operation/PostQuery",
    query=QUERY,
    interval="1m",
    expected_value=0.5,
    check=_checker(QUERY),
    online_check=_checker(ONLINE),
    answers={
        "value": Reply(200, _csv("double", "0.5"), headers=CSV),
        "empty": Reply(200, "\r\n", headers=CSV),
        "null": Reply(200, _csv("double", ""), headers=CSV),
        "error": Reply(400, {"code": "invalid", "message": "compilation failed: error at @1:1-1:5"}),
        "401": Reply(401, {"code": "unauthorized", "message": "unauthorized access"}),
        "403": Reply(403, {"code": "forbidden", "message": "insufficient permissions for read:orgs/bucket"}),
        "429": Reply(
            429,
            {"code": "too many requests", "message": "quota exceeded"},
            headers={"Retry-After": RETRY_AFTER},
        ),
    },
    credentials=lambda key: {"token": key, "org": "mesh-org"},
)
