"""Dynatrace's metrics API v2 (``GET /api/v2/metrics/query``), read the way Flagger reads it.

Kept from Flagger's ``pkg/metrics/providers/dynatrace.go``:

- no default address (``spec.provider.address`` is required, e.g.
  ``https://{env}.live.dynatrace.com``);
- Secret key ``dynatrace_token``, sent as ``Authorization: Api-Token <token>``;
- query parameters ``metricSelector``, ``resolution=Inf``, ``from`` = now − 10 ×
  interval and ``to`` = now (Unix milliseconds);
- the value is the first value of the *last* data entry of the first result;
  no result, no data or no value is "no values found";
- online when ``GET /api/v2/metrics?pageSize=1`` answers 200; 5 seconds timeout.

Different: a ``null`` value is "no values found" (Go reads it as 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

TOKEN_KEY = "dynatrace_token"
LOOKBACK_INTERVALS = 10


class DynatraceProvider:
    type = "dynatrace"

    def __init__(self, address: str, token: str, interval_seconds: float, timeout: float):
        self.address = check_address(self.type, address)
        self._headers = {"Authorization": f"Api-Token {token}", "Accept": "application/json"}
        self.from_delta_ms = int(LOOKBACK_INTERVALS * interval_seconds * 1000)
        self._http = HttpClient(self.type, self.address, secrets=(token,), timeout=timeout)

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> DynatraceProvider:
        if not spec.address:
            raise ValidationError(
                [FieldProblem("spec.provider.address", "required for dynatrace (the environment URL)")],
                subject="dynatrace provider",
            )
        token = required_key(cls.type, credentials, TOKEN_KEY)
        return cls(spec.address, token, ctx.interval_seconds, ctx.timeout_or())

    def __repr__(self) -> str:
        return f"DynatraceProvider(address={self.address!r})"

    def run_query(self, query: str) -> float:
        now = int(time.time()) * 1000
        params = {
            "metricSelector": query,
            "resolution": "Inf",
            "from": str(now - self.from_delta_ms),
            "to": str(now),
        }
        answer = self._http.send(
            "GET", self.address + "/api/v2/metrics/query", params=params, headers=self._headers
        )
        return self._value(answer.body, answer.text)

    def _value(self, body: Any, text: str) -> float:
        if not isinstance(body, Mapping):
            raise QueryFailed(self._http.say(f"answer is not a JSON object: {self._http.excerpt(text)}"))
        empty = NoValuesFound(
            self._http.say(f"invalid response: {self._http.excerpt(text)}: no values found")
        )
        results = body.get("result")
        if not isinstance(results, list) or not results or not isinstance(results[0], Mapping):
            raise empty
        data = results[0].get("data")
        if not isinstance(data, list) or not data or not isinstance(data[-1], Mapping):
            raise empty
        values = data[-1].get("values")
        if not isinstance(values, list) or not values:
            raise empty
        value = values[0]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise empty
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise QueryFailed(self._http.say("value is not a number"))
        return float(value)

    def is_online(self) -> bool:
        try:
            self._http.send(
                "GET", self.address + "/api/v2/metrics", params={"pageSize": "1"}, headers=self._headers
            )
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()
