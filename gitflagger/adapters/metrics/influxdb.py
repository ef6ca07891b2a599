"""InfluxDB 2's Flux query API (``POST /api/v2/query``), read the way Flagger reads it.

Flagger uses ``influxdb-client-go``; this sends the request that client sends:

- ``spec.provider.address`` is required (no default);
- a Secret, when referenced, must hold ``token`` (``Authorization: Token <token>``)
  and ``org`` (the ``org`` query parameter);
- the body is ``{"query": <flux>, "type": "flux", "dialect": {"annotations":
  ["datatype", "group", "default"], "delimiter": ",", "header": true}}`` and the
  answer is annotated CSV;
- the value is ``_value`` of the first record: empty is "no values found", a
  number that is not a ``double`` is a failure (the Go client yields an int64,
  which Flagger refuses);
- online when ``from(bucket: "default") |> range(start: -2h)`` runs; 15 seconds timeout.

Different: a query that returns no record at all is "no values found"; Flagger
returns 0 for it, which would pass an error-rate check with no data.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

TIMEOUT = 15.0
ONLINE_QUERY = 'from(bucket: "default") |> range(start: -2h)'
DIALECT = {"annotations": ["datatype", "group", "default"], "delimiter": ",", "header": True}


class InfluxdbProvider:
    type = "influxdb"

    def __init__(self, address: str, *, token: str = "", org: str = "", timeout: float = TIMEOUT):
        self.address = check_address(self.type, address)
        self.org = org
        self._headers = {"Content-Type": "application/json", "Accept": "text/csv"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        self._http = HttpClient(self.type, self.address, secrets=(token,) if token else (), timeout=timeout)

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> InfluxdbProvider:
        if not spec.address:
            raise ValidationError(
                [FieldProblem("spec.provider.address", "required for influxdb")], subject="influxdb provider"
            )
        token = org = ""
        if spec.secret_ref is not None:
            token = required_key(cls.type, credentials, "token")
            org = required_key(cls.type, credentials, "org")
        return cls(spec.address, token=token, org=org, timeout=ctx.timeout_or(TIMEOUT))

    def __repr__(self) -> str:
        return f"InfluxdbProvider(address={self.address!r}, org={self.org!r})"

    def _post(self, flux: str) -> str:
        body = {"query": flux, "type": "flux", "dialect": DIALECT}
        answer = self._http.send(
            "POST",
            self.address + "/api/v2/query",
            params={"org": self.org},
            headers=self._headers,
            json_body=body,
        )
        return answer.text

    def run_query(self, query: str) -> float:
        text = self._post(query)
        for record, types in _records(text):
            if "error" in record and "_value" not in record:
                raise QueryFailed(self._http.say(f"query error: {self._http.excerpt(record['error'])}"))
            raw = record.get("_value", "")
            if raw == "":
                raise NoValuesFound(self._http.say("invalid response: empty _value: no values found"))
            if types.get("_value") != "double":
                raise QueryFailed(
                    self._http.say(f"invalid response: _value is {types.get('_value')}, not double")
                )
            try:
                value = float(raw)
            except ValueError:
                raise QueryFailed(self._http.say("invalid response: _value is not a number")) from None
            if math.isnan(value):
                raise NoValuesFound(self._http.say("invalid response: _value is NaN: no values found"))
            return value
        raise NoValuesFound(self._http.say("no values found"))

    def is_online(self) -> bool:
        try:
            for record, _ in _records(self._post(ONLINE_QUERY)):
                if "error" in record and "_value" not in record:
                    return False
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()


def _records(text: str) -> list[tuple[dict[str, str], dict[str, str]]]:
    """Each data row of an annotated CSV answer, with its table's column types."""
    out: list[tuple[dict[str, str], dict[str, str]]] = []
    header: list[str] | None = None
    types: dict[str, str] = {}
    datatype: list[str] = []
    for row in csv.reader(io.StringIO(text)):
        if not row or all(cell == "" for cell in row):
            header, types, datatype = None, {}, []
            continue
        if row[0].startswith("#"):
            if row[0] == "#datatype":
                datatype = row
            continue
        if header is None:
            header = row
            types = dict(zip(header, datatype, strict=False)) if datatype else {}
            continue
        out.append((dict(zip(header, row, strict=False)), types))
    return out
