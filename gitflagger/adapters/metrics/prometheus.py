"""Prometheus instant queries, answered the way Flagger reads them.

Behaviour kept from Flagger's ``pkg/metrics/providers/prometheus.go``:

- the query's whitespace is collapsed (``\\s+`` → one space) before it is sent;
- ``GET {address}/api/v1/query?query=...``, the address path kept as a prefix;
- every sample of a vector is read and the *last* one wins;
- no sample, or NaN (``0/0`` over an idle window), is "no values found";
- a Secret with ``token`` gives bearer auth, otherwise ``username`` and
  ``password`` give basic auth (one without the other is a configuration error);
- 5 seconds timeout; ``insecureSkipVerify`` disables certificate checks.

Added: scalar results, ``POST`` for very long queries, ``spec.provider.headers``,
Prometheus' own error text (``bad_data: parse error ...``) in failures, and
credentials scrubbed from every message, log line and ``repr``.
"""

from __future__ import annotations

import base64
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.adapters.webhooks import describe_request_error, excerpt
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

DEFAULT_TIMEOUT = 5.0
ONLINE_QUERY = "vector(1)"
POST_ABOVE = 4096
"""Queries longer than this (after collapsing) are sent as a form POST: URLs that long get cut by proxies."""

_SPACE = re.compile(r"\s+")


def collapse_whitespace(query: str) -> str:
    """Flagger's ``trimQuery``: every run of whitespace becomes one space (ends are kept)."""
    return _SPACE.sub(" ", query)


class PrometheusProvider:
    """A Prometheus HTTP API client for instant queries. Holds credentials; never shows them."""

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
        insecure_skip_verify: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        try:
            parts = urlsplit(address)
            host_ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            _ = parts.port  # raises ValueError when out of range
        except ValueError:
            host_ok = False
        if not host_ok:
            raise ValidationError(
                [FieldProblem("spec.provider.address", "must be an http:// or https:// URL with a host")],
                subject="prometheus provider",
            )
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        # Go's client turns userinfo in the address into basic auth; so do we, but the
        # address we keep (and show) has it removed.
        if parts.username is not None and not token and username is None:
            username, password = parts.username, parts.password or ""
        netloc = parts.netloc.rpartition("@")[2]
        self.address = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        self.timeout = timeout
        self.insecure_skip_verify = insecure_skip_verify
        self._endpoint = self.address + "/api/v1/query"
        self._headers: dict[str, str] = {"Accept": "application/json"}
        for hname, value in (headers or {}).items():
            self._headers[hname] = value if isinstance(value, str) else ", ".join(value)
        secrets: list[str] = [v for k, v in self._headers.items() if k.lower() != "accept"]
        self.auth_kind = "none"
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
            self.auth_kind = "bearer"
            secrets += [token]
        elif username is not None and password:
            basic = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
            self.auth_kind = "basic"
            secrets += [password, basic]
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._session = requests.Session()
        self._session.trust_env = False  # no ~/.netrc credentials sneaking in
        self._proxies = requests.utils.get_environ_proxies(self._endpoint)

    @classmethod
    def from_spec(
        cls,
        spec: MetricProviderSpec,
        credentials: Mapping[str, str] | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> PrometheusProvider:
        """Build from a MetricTemplate's provider and its Secret's decoded data (Flagger's rules)."""
        if not spec.address:
            raise ValidationError(
                [FieldProblem("spec.provider.address", "required for prometheus")],
                subject="prometheus provider",
            )
        token = username = password = None
        if spec.secret_ref is not None:
            creds = credentials or {}
            if creds.get("token"):
                token = creds["token"]
            elif "username" in creds and "password" in creds:
                username, password = creds["username"], creds["password"]
            else:
                raise ValidationError(
                    [
                        FieldProblem(
                            "spec.provider.secretRef",
                            f'Secret "{spec.secret_ref}" has neither a "token" key '
                            'nor both "username" and "password"',
                        )
                    ],
                    subject="prometheus provider",
                )
        return cls(
            spec.address,
            token=token,
            username=username,
            password=password,
            headers=spec.headers,
            insecure_skip_verify=spec.insecure_skip_verify,
            timeout=timeout,
        )

    @property
    def type(self) -> str:
        return "prometheus"

    def __repr__(self) -> str:
        return (
            f"PrometheusProvider(address={self.address!r}, auth={self.auth_kind!r}, "
            f"insecure_skip_verify={self.insecure_skip_verify}, timeout={self.timeout:g})"
        )

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PrometheusProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- queries ---------------------------------------------------------

    def run_query(self, query: str) -> float:
        """The value of an instant query: a scalar, or the last sample of a vector.

        Raises :class:`NoValuesFound` for an empty or NaN result and :class:`QueryFailed`
        for everything else that is not a number.
        """
        body = self._fetch(collapse_whitespace(query))
        status = body.get("status")
        if status != "success":
            raise QueryFailed(self._say(f"query failed: {_api_error(body, self._secrets)}"))
        data = body.get("data")
        if not isinstance(data, Mapping):
            raise QueryFailed(self._say('answer has no "data" object'))
        value = self._value_of(data)
        if value is None or math.isnan(value):
            raise NoValuesFound(self._say("no values found"))
        return value

    def is_online(self) -> bool:
        """Flagger's check: ``vector(1)`` must answer 1. Run ``run_query(ONLINE_QUERY)`` for the reason."""
        try:
            return self.run_query(ONLINE_QUERY) == 1.0
        except (NoValuesFound, QueryFailed):
            return False

    def _fetch(self, query: str) -> Mapping[str, Any]:
        kwargs: dict[str, Any] = {
            "headers": self._headers,
            "timeout": (self.timeout, self.timeout),
            "verify": not self.insecure_skip_verify,
            "proxies": self._proxies,
        }
        try:
            with warnings.catch_warnings():
                if self.insecure_skip_verify:
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                if len(query) > POST_ABOVE:
                    resp = self._session.post(self._endpoint, data={"query": query}, **kwargs)
                else:
                    resp = self._session.get(self._endpoint, params={"query": query}, **kwargs)
        except requests.RequestException as err:
            raise QueryFailed(self._say(describe_request_error(err, self.timeout))) from None
        except ValueError:  # refused before sending; the text may quote a header value
            raise QueryFailed(self._say("invalid request (malformed URL or header value)")) from None
        with resp:
            text = resp.text
            try:
                body = resp.json()
            except ValueError:
                body = None
        if resp.status_code >= 400:
            detail = _api_error(body, self._secrets) if isinstance(body, Mapping) else self._excerpt(text)
            raise QueryFailed(self._say(f"HTTP {resp.status_code}: {detail}"))
        if not isinstance(body, Mapping):
            raise QueryFailed(
                self._say(f"HTTP {resp.status_code} with a body that is not JSON: {self._excerpt(text)}")
            )
        return body

    def _value_of(self, data: Mapping[str, Any]) -> float | None:
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return self._number(result[1])
        if kind == "vector" and isinstance(result, list):
            value: float | None = None
            for sample in result:  # the last sample wins, as in Flagger
                pair = sample.get("value") if isinstance(sample, Mapping) else None
                if not isinstance(pair, list) or len(pair) != 2:
                    raise QueryFailed(self._say("malformed vector sample in answer"))
                value = self._number(pair[1])
            return value
        if kind in ("matrix", "string"):
            raise QueryFailed(self._say(f"query returned a {kind} result; use an instant vector or a scalar"))
        raise QueryFailed(self._say(f"unexpected result type {kind!r}"))

    def _number(self, raw: object) -> float:
        try:
            if isinstance(raw, str):
                return float(raw)  # Prometheus sends "1.5", "NaN", "+Inf"
        except ValueError:
            pass
        raise QueryFailed(self._say(f"sample value {self._excerpt(repr(raw), 40)} is not a number"))

    def _excerpt(self, text: str, limit: int = 200) -> str:
        return excerpt(text, limit, secrets=self._secrets)

    def _say(self, message: str) -> str:
        """Prefix with the provider and strip every credential we hold from ``message``."""
        return scrub(f"prometheus {self.address}: {message}", self._secrets)


def _api_error(body: Mapping[str, Any], secrets: Sequence[str]) -> str:
    """Prometheus' own error text (``bad_data: parse error ...``), masked and cut."""
    error, kind = body.get("error"), body.get("errorType")
    if not error:
        return f"status {excerpt(str(body.get('status')), 40, secrets=secrets)}"
    text = excerpt(str(error), secrets=secrets)
    return f"{excerpt(str(kind), 40, secrets=secrets)}: {text}" if kind else text


def scrub(message: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each secret (longest first) with ``***``."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
