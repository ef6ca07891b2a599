"""New Relic's Insights query API (NRQL), read the way Flagger reads it.

Kept from Flagger's ``pkg/metrics/providers/newrelic.go``:

- default address ``https://insights-api.newrelic.com``;
- Secret keys ``newrelic_account_id`` (in the path) and ``newrelic_query_key``
  (the ``X-Query-Key`` header);
- ``GET /v1/accounts/{account}/query?nrql=<query> SINCE <interval seconds> seconds ago``;
- the answer must hold exactly one ``results`` entry whose ``result`` is a
  number; otherwise "no values found";
- online when ``SELECT * FROM Metric`` answers 200; 5 seconds timeout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from urllib.parse import quote

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.model.templates import MetricProviderSpec

DEFAULT_ADDRESS = "https://insights-api.newrelic.com"
ACCOUNT_KEY, QUERY_KEY = "newrelic_account_id", "newrelic_query_key"
ONLINE_QUERY = "SELECT * FROM Metric"


class NewRelicProvider:
    type = "newrelic"

    def __init__(
        self, address: str, account_id: str, query_key: str, interval_seconds: float, timeout: float
    ):
        self.address = check_address(self.type, address or DEFAULT_ADDRESS)
        self._endpoint = f"{self.address}/v1/accounts/{quote(account_id, safe='')}/query"
        self._headers = {"X-Query-Key": query_key, "Accept": "application/json"}
        self.since_seconds = int(interval_seconds)
        self._http = HttpClient(self.type, self.address, secrets=(query_key,), timeout=timeout)

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> NewRelicProvider:
        account = required_key(cls.type, credentials, ACCOUNT_KEY)
        key = required_key(cls.type, credentials, QUERY_KEY)
        return cls(spec.address, account, key, ctx.interval_seconds, ctx.timeout_or())

    def __repr__(self) -> str:
        return f"NewRelicProvider(address={self.address!r})"

    def nrql(self, query: str) -> str:
        """The NRQL Flagger sends: the query with the look-back window appended."""
        return f"{query} SINCE {self.since_seconds} seconds ago"

    def run_query(self, query: str) -> float:
        answer = self._http.send(
            "GET", self._endpoint, params={"nrql": self.nrql(query)}, headers=self._headers
        )
        body = answer.body
        if not isinstance(body, Mapping):
            raise QueryFailed(
                self._http.say(f"answer is not a JSON object: {self._http.excerpt(answer.text)}")
            )
        results = body.get("results")
        if not isinstance(results, list) or len(results) != 1 or not isinstance(results[0], Mapping):
            raise NoValuesFound(
                self._http.say(f"invalid response: {self._http.excerpt(answer.text)}: no values found")
            )
        value = results[0].get("result")
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise NoValuesFound(
                self._http.say(f"invalid response: {self._http.excerpt(answer.text)}: no values found")
            )
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise QueryFailed(self._http.say("result is not a number"))
        return float(value)

    def is_online(self) -> bool:
        try:
            self._http.send(
                "GET", self._endpoint, params={"nrql": self.nrql(ONLINE_QUERY)}, headers=self._headers
            )
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()
