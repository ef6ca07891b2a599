"""Graphite's render API (``GET {address}/render?...&format=json``), read the way Flagger reads it.

Kept from Flagger's ``pkg/metrics/providers/graphite.go``:

- ``spec.provider.address`` is required (no default); its path is kept as a
  prefix of ``/render``;
- the query is the render URL's query string (``target=...&from=-1min``),
  whitespace collapsed; ``format=json`` is set; parameters are sent sorted by
  name, as Go's ``url.Values.Encode`` does;
- a Secret, when referenced, must hold ``username`` and ``password`` (basic auth);
  ``insecureSkipVerify`` disables certificate checks;
- the value is the last non-null datapoint of all targets; none is "no values
  found"; an HTTP status of 400 or more is a failure;
- online when ``target=test`` answers (even with no values); 5 seconds timeout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

ONLINE_QUERY = "target=test"
_SPACE = re.compile(r"\s+")


class GraphiteProvider:
    type = "graphite"

    def __init__(
        self,
        address: str,
        *,
        username: str = "",
        password: str = "",
        insecure_skip_verify: bool = False,
        timeout: float,
    ):
        self.address = check_address(self.type, address)
        self._auth = (username, password) if username and password else None
        self._http = HttpClient(
            self.type,
            self.address,
            secrets=(password,) if password else (),
            timeout=timeout,
            insecure_skip_verify=insecure_skip_verify,
        )

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> GraphiteProvider:
        if not spec.address:
            raise ValidationError(
                [FieldProblem("spec.provider.address", "required for graphite")], subject="graphite provider"
            )
        username = password = ""
        if spec.secret_ref is not None:
            username = required_key(cls.type, credentials, "username")
            password = required_key(cls.type, credentials, "password")
        return cls(
            spec.address,
            username=username,
            password=password,
            insecure_skip_verify=spec.insecure_skip_verify,
            timeout=ctx.timeout_or(),
        )

    def __repr__(self) -> str:
        return f"GraphiteProvider(address={self.address!r}, basic_auth={self._auth is not None})"

    def render_params(self, query: str) -> list[tuple[str, str]]:
        """The render parameters sent for ``query``: parsed, ``format=json`` set, sorted by name."""
        pairs = [
            (k, v) for k, v in parse_qsl(_SPACE.sub(" ", query), keep_blank_values=True) if k != "format"
        ]
        pairs.append(("format", "json"))
        return sorted(pairs, key=lambda kv: kv[0])

    def run_query(self, query: str) -> float:
        params = self.render_params(query)
        answer = self._http.send("GET", self.address + "/render", params=params, auth=self._auth)
        return self._last_value(answer.body, answer.text)

    def _last_value(self, body: Any, text: str) -> float:
        if not isinstance(body, list):
            raise QueryFailed(self._http.say(f"answer is not a JSON list: {self._http.excerpt(text)}"))
        value: float | None = None
        for target in body:
            points = target.get("datapoints") if isinstance(target, Mapping) else None
            if not isinstance(points, list):
                raise QueryFailed(self._http.say("malformed target in answer"))
            for point in points:
                if not isinstance(point, list) or len(point) != 2:
                    raise QueryFailed(self._http.say("malformed datapoint in answer"))
                raw = point[0]
                if raw is None:
                    continue
                try:
                    value = float(raw) if isinstance(raw, int | float | str) else None
                except ValueError:
                    raise QueryFailed(self._http.say("datapoint value is not a number")) from None
                if value is None or isinstance(raw, bool):
                    raise QueryFailed(self._http.say("datapoint value is not a number"))
        if value is None or math.isnan(value):
            raise NoValuesFound(self._http.say("no values found"))
        return value

    def is_online(self) -> bool:
        try:
            self.run_query(ONLINE_QUERY)
        except NoValuesFound:
            return True
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()
