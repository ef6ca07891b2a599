"""Google Cloud Monitoring (``stackdriver``): an MQL query through ``timeSeries:query``.

Flagger's ``pkg/metrics/providers/stackdriver.go`` calls ``QueryTimeSeries`` over
gRPC; this sends the same request over the REST binding of the same API method
(``POST /v3/projects/{project}/timeSeries:query`` with ``{"query": ...}``). Kept:

- Secret keys ``project`` (required) and ``serviceAccountKey`` (a service account's
  JSON key; without it, Application Default Credentials, e.g. Workload Identity);
- the value is the first value of the first point of the first time series; no
  series, no point or no value is "no values found";
- online when an empty query succeeds or is refused as an invalid argument (400).

Different: an ``int64Value`` is read as its number (Flagger's ``GetDoubleValue``
reads it as 0); ``spec.provider.address`` overrides the endpoint (Flagger ignores
it). OAuth2 tokens come from ``google-auth``, Google's own library, not
hand-written JWT signing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, check_address, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

DEFAULT_ADDRESS = "https://monitoring.googleapis.com"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/monitoring.read")
PROJECT_KEY, SA_KEY = "project", "serviceAccountKey"


class StackdriverProvider:
    type = "stackdriver"

    def __init__(self, project: str, *, address: str = "", service_account_key: str = "", timeout: float):
        self.project = project
        self.address = check_address(self.type, address or DEFAULT_ADDRESS)
        self._endpoint = f"{self.address}/v3/projects/{quote(project, safe='')}/timeSeries:query"
        info = self._key_info(service_account_key) if service_account_key else None
        secrets = [service_account_key] if service_account_key else []
        if info is not None:
            secrets += [str(info.get("private_key", "")), str(info.get("private_key_id", ""))]
            secrets += [line for line in str(info.get("private_key", "")).splitlines() if len(line) > 16]
        self._http = HttpClient(self.type, self.address, secrets=secrets, timeout=timeout)
        self._credentials = self._build_credentials(info)

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> StackdriverProvider:
        if spec.secret_ref is None:
            raise ValidationError(
                [
                    FieldProblem(
                        "spec.provider.secretRef", 'required for stackdriver (a Secret with "project")'
                    )
                ],
                subject="stackdriver provider",
            )
        project = required_key(cls.type, credentials, PROJECT_KEY)
        key = (credentials or {}).get(SA_KEY, "")
        return cls(project, address=spec.address, service_account_key=key, timeout=ctx.timeout_or())

    def __repr__(self) -> str:
        return f"StackdriverProvider(project={self.project!r}, address={self.address!r})"

    def _key_info(self, raw: str) -> dict[str, Any]:
        try:
            info = json.loads(raw)
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise ValidationError(
                [FieldProblem("spec.provider.secretRef", f'"{SA_KEY}" is not a JSON service account key')],
                subject="stackdriver provider",
            )
        return info

    def _build_credentials(self, info: dict[str, Any] | None) -> Any:
        # google-auth is imported here, not at module load: only Stackdriver templates pay for it.
        import google.auth
        import google.auth.exceptions
        from google.oauth2 import service_account

        try:
            if info is not None:
                return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                    info, scopes=list(SCOPES)
                )
            credentials, _ = google.auth.default(scopes=list(SCOPES))
            return credentials
        except (ValueError, KeyError, google.auth.exceptions.GoogleAuthError) as err:
            problem = (
                "unusable service account key" if info is not None else "no Application Default Credentials"
            )
            detail = self._http.excerpt(f"{type(err).__name__}: {err}", 160)
            raise ValidationError(
                [FieldProblem("spec.provider.secretRef", f"{problem} ({detail})")],
                subject="stackdriver provider",
            ) from None

    def _token(self) -> str:
        import google.auth.exceptions
        import google.auth.transport.requests

        if not self._credentials.valid:
            transport = google.auth.transport.requests.Request()
            timeout = self._http.timeout

            def request(*args: Any, **kwargs: Any) -> Any:
                kwargs["timeout"] = timeout
                return transport(*args, **kwargs)

            try:
                self._credentials.refresh(request)
            except google.auth.exceptions.GoogleAuthError as err:
                raise QueryFailed(
                    self._http.say(f"cannot get an access token: {self._http.excerpt(str(err))}")
                ) from None
        token = str(self._credentials.token)
        self._http.add_secret(token)
        return token

    def _query(self, mql: str) -> Any:
        headers = {"Authorization": f"Bearer {self._token()}", "Content-Type": "application/json"}
        return self._http.send("POST", self._endpoint, headers=headers, json_body={"query": mql})

    def run_query(self, query: str) -> float:
        answer = self._query(query)
        body = answer.body
        if not isinstance(body, Mapping):
            raise QueryFailed(
                self._http.say(f"answer is not a JSON object: {self._http.excerpt(answer.text)}")
            )
        empty = NoValuesFound(
            self._http.say(f"invalid response: {self._http.excerpt(answer.text)}: no values found")
        )
        series = body.get("timeSeriesData")
        if not isinstance(series, list) or not series or not isinstance(series[0], Mapping):
            raise empty
        points = series[0].get("pointData")
        if not isinstance(points, list) or not points or not isinstance(points[0], Mapping):
            raise empty
        values = points[0].get("values")
        if not isinstance(values, list) or not values or not isinstance(values[0], Mapping):
            raise empty
        value = values[0]
        number: float
        if "doubleValue" in value:
            raw = value["doubleValue"]
            try:
                number = float(raw)  # JSON numbers, and "NaN"/"Infinity" as strings
            except (TypeError, ValueError):
                raise QueryFailed(self._http.say("doubleValue is not a number")) from None
        elif "int64Value" in value:
            try:
                number = float(int(value["int64Value"]))  # an int64 is a JSON string
            except (TypeError, ValueError):
                raise QueryFailed(self._http.say("int64Value is not an integer")) from None
        else:
            raise empty
        if math.isnan(number):
            raise empty
        return number

    def is_online(self) -> bool:
        try:
            self._query("")
        except QueryFailed as err:
            return "HTTP 400" in str(err)
        return True

    def close(self) -> None:
        self._http.close()
