"""The HTTP exchange every SaaS metrics provider makes, in one place.

Datadog, New Relic, Dynatrace, Graphite and InfluxDB all do the same thing:
send one request with a key in a header or a query parameter, wait at most the
timeout, and read a JSON (or CSV) body. What differs is the request and how
the value is picked, which stay in each provider's module. What is shared is
here, so that it is right once:

- every credential the provider holds is masked (``***``) in every message,
  including its URL-encoded form (a key sent as a query parameter);
- a non-2xx answer is a :class:`QueryFailed` naming the provider and the HTTP
  status (and ``Retry-After`` for a 429), with a masked excerpt of the body;
- a timeout or connection error is a :class:`QueryFailed` in one line;
- no ``~/.netrc`` or environment credentials are added by ``requests``.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from gitflagger.adapters.metrics.provider import QueryFailed
from gitflagger.adapters.webhooks import describe_request_error, excerpt
from gitflagger.errors import FieldProblem, ValidationError

DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Answer:
    """A 2xx answer: its status, its text, and its body parsed as JSON (None when it is not JSON)."""

    status: int
    text: str
    body: Any
    seconds: float


def check_address(provider: str, address: str) -> str:
    """``address`` without a trailing slash; a ValidationError naming ``spec.provider.address``."""
    try:
        parts = urlsplit(address)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port
    except ValueError:
        ok = False
    if not ok:
        raise ValidationError(
            [FieldProblem("spec.provider.address", "must be an http:// or https:// URL with a host")],
            subject=f"{provider} provider",
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def shown_address(address: str) -> str:
    """The address as messages show it: without any ``user:password@``."""
    parts = urlsplit(address)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def required_key(provider: str, credentials: Mapping[str, str] | None, key: str) -> str:
    """The Secret value under ``key``; a ValidationError naming the key (never a value) when absent."""
    value = (credentials or {}).get(key)
    if value is None:
        raise ValidationError(
            [FieldProblem("spec.provider.secretRef", f'{provider} credentials do not contain "{key}"')],
            subject=f"{provider} provider",
        )
    return value


class HttpClient:
    """One provider's HTTP session: a timeout, masked messages, and typed failures."""

    def __init__(
        self,
        provider: str,
        address: str,
        *,
        secrets: Iterable[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        insecure_skip_verify: bool = False,
    ) -> None:
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout}")
        self.provider = provider
        self.address = shown_address(address)
        self.timeout = timeout
        self.insecure_skip_verify = insecure_skip_verify
        forms: set[str] = set()
        for secret in secrets:
            if len(secret) >= 4:
                forms |= {secret, quote(secret, safe=""), quote_plus(secret)}
        self._secrets = sorted(forms, key=len, reverse=True)
        self._session = requests.Session()
        self._session.trust_env = False
        self._proxies = requests.utils.get_environ_proxies(address)

    def add_secret(self, secret: str) -> None:
        """Mask one more value (e.g. a header built from a key)."""
        if len(secret) >= 4 and secret not in self._secrets:
            self._secrets = sorted({*self._secrets, secret}, key=len, reverse=True)

    def send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        auth: tuple[str, str] | None = None,
        ok_statuses: Iterable[int] = (),
    ) -> Answer:
        """Send one request; the answer if it is 2xx (or in ``ok_statuses``), else QueryFailed."""
        started = time.monotonic()
        try:
            with warnings.catch_warnings():
                if self.insecure_skip_verify:
                    warnings.simplefilter("ignore", InsecureRequestWarning)
                resp = self._session.request(
                    method,
                    url,
                    params=params,
                    headers=dict(headers or {}),
                    json=json_body,
                    auth=auth,
                    timeout=(self.timeout, self.timeout),
                    verify=not self.insecure_skip_verify,
                    proxies=self._proxies,
                    allow_redirects=False,
                )
                with resp:
                    text = resp.text
        except requests.RequestException as err:
            raise QueryFailed(self.say(describe_request_error(err, self.timeout))) from None
        except ValueError:  # refused before sending; the text may quote a header value
            raise QueryFailed(self.say("invalid request (malformed URL or header value)")) from None
        seconds = time.monotonic() - started
        try:
            body: Any = resp.json()
        except ValueError:
            body = None
        if not (200 <= resp.status_code < 300 or resp.status_code in set(ok_statuses)):
            raise QueryFailed(self.say(self._status_line(resp, text)))
        return Answer(resp.status_code, text, body, seconds)

    def _status_line(self, resp: requests.Response, text: str) -> str:
        line = f"HTTP {resp.status_code}"
        if resp.reason:
            line += f" {resp.reason}"
        retry_after = resp.headers.get("Retry-After")
        if resp.status_code == 429 and retry_after:
            line += f" (retry after {self.excerpt(retry_after, 20)}s)"
        if resp.status_code in (401, 403):
            line += " (check the credentials in spec.provider.secretRef)"
        body = self.excerpt(text)
        return f"{line}: {body}" if body else line

    def excerpt(self, text: str, limit: int = 200) -> str:
        return excerpt(text, limit, secrets=self._secrets)

    def say(self, message: str) -> str:
        """Prefix with the provider and its address, and mask every credential held."""
        return excerpt(f"{self.provider} {self.address}: {message}", 600, secrets=self._secrets)

    def close(self) -> None:
        self._session.close()
