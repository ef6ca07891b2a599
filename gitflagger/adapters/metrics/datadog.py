"""Datadog's metrics query API (``GET /api/v1/query``), read the way Flagger reads it.

Kept from Flagger's ``pkg/metrics/providers/datadog.go``:

- default address ``https://api.datadoghq.com``;
- Secret keys ``datadog_api_key`` and ``datadog_application_key``, sent as the
  ``DD-API-KEY`` and ``DD-APPLICATION-KEY`` headers;
- query parameters ``query``, ``from`` = now − 10 × interval and ``to`` = now
  (Unix seconds);
- the value is the *first* point of the first series (the newest bucket is
  usually incomplete); no series or no point is "no values found";
- online when ``GET /api/v1/validate`` answers 200; 5 seconds timeout.

Different: a point whose value is ``null`` is "no values found" (Go reads it as 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.model.templates import MetricProviderSpec

DEFAULT_ADDRESS = "https://api.datadoghq.com"
API_KEY, APP_KEY = "datadog_api_key", "datadog_application_key"
LOOKBACK_INTERVALS = 10


class DatadogProvider:
    type = "datadog"

    def __init__(self, address: str, api_key: str, app_key: str, interval_seconds: float, timeout: float):
        self.address = check_address(self.type, address or DEFAULT_ADDRESS)
        self._headers = {"DD-API-KEY": api_key, "DD-APPLICATION-KEY": app_key, "Accept": "application/json"}
        self.from_delta = int(LOOKBACK_INTERVALS * interval_seconds)
        self._http = HttpClient(self.type, self.address, secrets=(api_key, app_key), timeout=timeout)

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> DatadogProvider:
        return cls(
            spec.address,
            required_key(cls.type, credentials, API_KEY),
            required_key(cls.type, credentials, APP_KEY),
            ctx.interval_seconds,
            ctx.timeout_or(),
        )

    def __repr__(self) -> str:
        return f"DatadogProvider(address={self.address!r})"

    def run_query(self, query: str) -> float:
        now = int(time.time())
        params = {"query": query, "from": str(now - self.from_delta), "to": str(now)}
        answer = self._http.send("GET", self.address + "/api/v1/query", params=params, headers=self._headers)
        return self._first_point(answer.body, answer.text)

    def _first_point(self, body: Any, text: str) -> float:
        if not isinstance(body, Mapping):
            raise QueryFailed(self._http.say(f"answer is not a JSON object: {self._http.excerpt(text)}"))
        if body.get("status") == "error" or body.get("error"):
            raise QueryFailed(self._http.say(f"query failed: {self._http.excerpt(str(body.get('error')))}"))
        series = body.get("series") or []
        first_series = series[0] if isinstance(series, list) and series else None
        points = first_series.get("pointlist") if isinstance(first_series, Mapping) else None
        if not points or not isinstance(points, list):
            raise NoValuesFound(
                self._http.say(f"invalid response: {self._http.excerpt(text)}: no values found")
            )
        first = points[0]
        if not isinstance(first, list) or len(first) < 2:
            raise QueryFailed(self._http.say("malformed point in answer"))
        value = first[1]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise NoValuesFound(self._http.say("first point has no value: no values found"))
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise QueryFailed(self._http.say("point value is not a number"))
        return float(value)

    def is_online(self) -> bool:
        try:
            self._http.send("GET", self.address + "/api/v1/validate", headers=self._headers)
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()
