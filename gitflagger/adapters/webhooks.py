"""Webhooks: Flagger's gates, rollout hooks and event hooks, called over HTTP.

Kept from Flagger's ``pkg/controller/webhook.go``:

- a JSON ``POST`` with ``Content-Type: application/json``;
- the payload ``{"name", "namespace", "phase", "checksum", "metadata"}``, where
  ``metadata`` (the webhook's own) is left out when empty;
- ``event`` hooks get ``metadata.eventMessage``, ``eventType`` (``Normal`` or
  ``Warning``) and ``timestamp`` (Unix milliseconds, as a string), plus the
  hook's own metadata for keys not already set;
- ``timeout`` (default 10s) bounds each attempt; ``retries`` extra attempts follow
  go-retryablehttp's policy (connection errors, timeouts, 429 and 5xx except 501
  are retried; other 4xx are final) with its exponential backoff, bounded;
- ``disableTLS`` skips certificate verification.

Changed on purpose: any 2xx passes. Flagger fails a 203-299 answer
(``StatusCode > 202``), although its documentation promises "HTTP 2xx"; a gate
answering ``204 No Content`` is common and means yes.

:func:`post_json` is the shared HTTP primitive (the chat notifiers use it), and
:func:`describe_request_error` the one place that turns a ``requests`` exception
into a line for humans (the Prometheus provider uses it).
No exception leaves this module: every failure is a result with a clear message,
and URLs are shown without userinfo or query (where tokens hide).
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import InsecureRequestWarning

from gitflagger.decide.observation import WebhookResult
from gitflagger.model.canary import Canary, Webhook, WebhookType

DEFAULT_TIMEOUT = 10.0
EVENT_WEBHOOK_NAME = "events"
"""The name Flagger gives the global ``--event-webhook``."""
MAX_BODY = 64 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between attempts: ``wait_min * 2**n`` capped at ``wait_max`` (go-retryablehttp's default).

    A ``Retry-After`` header in seconds (on 429 or 503) is honoured, within the same cap.
    """

    wait_min: float = 1.0
    wait_max: float = 30.0

    def wait(self, retry_number: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.wait_max)
        return min(self.wait_min * float(2 ** min(retry_number, 32)), self.wait_max)


DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class HttpOutcome:
    """What one (possibly retried) POST ended with. ``detail`` is one safe line."""

    ok: bool
    status: int | None
    attempts: int
    detail: str
    body: str = ""


def post_json(
    url: str,
    payload: Any,
    *,
    timeout: float,
    retries: int = 0,
    verify_tls: bool = True,
    proxy: str | None = None,
    headers: Mapping[str, str] | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> HttpOutcome:
    """POST ``payload`` as JSON; ``ok`` when the answer is 2xx. Never raises for network trouble."""
    data = go_json(payload)
    sent_headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        proxies = {"http": proxy, "https": proxy} if proxy else requests.utils.get_environ_proxies(url)
    except ValueError:  # urllib refuses the URL outright (e.g. "http://[::1")
        return HttpOutcome(False, None, 0, "invalid URL")
    attempts = 0
    with requests.Session() as session:
        session.trust_env = False
        while True:
            attempts += 1
            outcome, retryable, retry_after = _attempt(
                session, url, data, sent_headers, proxies, timeout, verify_tls
            )
            if outcome.ok or not retryable or attempts > retries:
                break
            time.sleep(retry.wait(attempts - 1, retry_after))
    if not outcome.ok and attempts > 1:
        status, _, rest = outcome.detail.partition(": ")
        detail = f"{status} after {attempts} attempts" + (f": {rest}" if rest else "")
        return HttpOutcome(False, outcome.status, attempts, detail, outcome.body)
    return HttpOutcome(outcome.ok, outcome.status, attempts, outcome.detail, outcome.body)


def _attempt(
    session: requests.Session,
    url: str,
    data: bytes,
    headers: Mapping[str, str],
    proxies: Mapping[str, str],
    timeout: float,
    verify_tls: bool,
) -> tuple[HttpOutcome, bool, float | None]:
    """One POST → (outcome, worth retrying, Retry-After seconds)."""
    try:
        with warnings.catch_warnings():
            if not verify_tls:
                warnings.simplefilter("ignore", InsecureRequestWarning)
            resp = session.post(
                url,
                data=data,
                headers=headers,
                proxies=dict(proxies),
                timeout=(timeout, timeout),
                verify=verify_tls,
                stream=True,
            )
        with resp:
            body = _read_body(resp, time.monotonic() + timeout)
    except (requests.RequestException, ValueError) as err:
        if not isinstance(err, requests.RequestException):
            # Raised before anything is sent: a malformed URL or header. Its text may quote the
            # header value (a token), so it is not repeated.
            return HttpOutcome(False, None, 1, "invalid request (malformed URL or header value)"), False, None
        final = isinstance(
            err,
            requests.exceptions.SSLError
            | requests.exceptions.InvalidURL
            | requests.exceptions.MissingSchema
            | requests.exceptions.InvalidSchema
            | requests.exceptions.InvalidHeader
            | requests.exceptions.TooManyRedirects,
        )
        return HttpOutcome(False, None, 1, describe_request_error(err, timeout)), not final, None
    code = resp.status_code
    text = excerpt(body)
    if 200 <= code < 300:
        return HttpOutcome(True, code, 1, f"HTTP {code}", body), False, None
    retryable = code == 429 or (code >= 500 and code != 501)
    retry_after = _retry_after(resp.headers.get("Retry-After")) if code in (429, 503) else None
    return (
        HttpOutcome(False, code, 1, f"HTTP {code}" + (f": {text}" if text else ""), body),
        retryable,
        retry_after,
    )


def _read_body(resp: requests.Response, deadline: float) -> str:
    """At most :data:`MAX_BODY` bytes, giving up (as a timeout) on a server that drips past ``deadline``."""
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(4096):
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
        if time.monotonic() > deadline:
            raise requests.Timeout("body read timed out")
    return b"".join(chunks)[:MAX_BODY].decode("utf-8", errors="replace")


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def describe_request_error(err: requests.RequestException, timeout: float) -> str:
    """One readable line for a failed HTTP exchange, without the URL (it may carry secrets)."""
    text = str(err)
    if isinstance(err, requests.Timeout) or "timed out" in text.lower():
        return f"no answer within {timeout:g}s (timeout)"
    if isinstance(err, requests.exceptions.SSLError):
        reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in text else "handshake failed"
        return f"TLS error: {reason}"
    if isinstance(err, requests.exceptions.InvalidHeader):
        return "invalid request header value"  # its text quotes the value, which may be a token
    if isinstance(err, requests.exceptions.InvalidSchema):
        return "invalid URL (only http:// and https:// are supported)"
    if isinstance(err, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "invalid URL"
    if isinstance(err, requests.ConnectionError):
        m = _ERRNO.search(text)
        if m:
            return f"cannot connect: {m.group(1).strip().lower()}"
        if "RemoteDisconnected" in text or "Connection aborted" in text:
            return "connection closed by the server without an answer"
        if "NameResolution" in text or "Name or service not known" in text:
            return "cannot connect: host name not found"
        return "cannot connect"
    return f"request failed ({type(err).__name__})"


def excerpt(text: str, limit: int = 200, *, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, with ``secrets`` masked as ``***`` *before* it is cut to ``limit`` characters.

    (Cutting first could leave the start of a secret that no longer matches in full.)
    """
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def go_json(payload: Any) -> bytes:
    """JSON the way Go's ``encoding/json`` writes it: compact, UTF-8, with ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text.encode("utf-8")


def display_url(url: str, *, path: bool = True) -> str:
    """``url`` without userinfo, query or fragment (and without its path when ``path`` is false)."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
    except ValueError:
        return "(invalid URL)"
    if not parts.scheme or not host:
        return "(invalid URL)"
    return f"{parts.scheme}://{host}{parts.path if path else ''}"


# ---- payloads ---------------------------------------------------------------


def hook_payload(canary: Canary, phase: str, checksum: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Flagger's ``CanaryWebhookPayload`` for a gate or rollout hook."""
    payload: dict[str, Any] = {
        "name": canary.name,
        "namespace": canary.namespace,
        "phase": str(phase),
        "checksum": checksum,
    }
    if metadata:
        payload["metadata"] = dict(sorted(metadata.items()))
    return payload


def event_payload(
    canary: Canary,
    phase: str,
    checksum: str,
    message: str,
    *,
    event_type: str,
    now: datetime,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Flagger's event payload: the event in ``metadata``, the hook's own metadata never overriding it."""
    meta = {
        "eventMessage": message,
        "eventType": event_type,
        "timestamp": str((now - _EPOCH) // timedelta(milliseconds=1)),
    }
    for key, value in (metadata or {}).items():
        meta.setdefault(key, value)
    return hook_payload(canary, phase, checksum, meta)


# ---- calls ------------------------------------------------------------------


def call_webhook(
    webhook: Webhook, canary: Canary, phase: str, checksum: str, *, retry: RetryPolicy = DEFAULT_RETRY
) -> WebhookResult:
    """Call one gate or rollout hook; ``ok`` when it answered 2xx within its timeout and retries."""
    payload = hook_payload(canary, phase, checksum, webhook.metadata)
    return _call(webhook, payload, retry)


def run_gates(
    canary: Canary,
    types: WebhookType | Iterable[WebhookType],
    phase: str,
    checksum: str,
    *,
    stop_on_failure: bool = True,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> dict[str, WebhookResult]:
    """Call the Canary's webhooks of ``types``, in spec order, keyed by webhook name.

    Like Flagger, the first failing gate stops the round (a later gate is not asked
    while an earlier one says no; the decision core counts a missing result as a
    failure). Pass ``stop_on_failure=False`` for post-rollout and rollback hooks,
    where every hook must be called whatever the others answered.
    """
    wanted = {types} if isinstance(types, WebhookType) else set(types)
    if WebhookType.EVENT in wanted:
        raise ValueError("event webhooks receive events: use send_event or send_events")
    results: dict[str, WebhookResult] = {}
    for webhook in canary.spec.analysis.webhooks:
        if webhook.type in wanted:
            result = call_webhook(webhook, canary, phase, checksum, retry=retry)
            results[webhook.name] = result
            if stop_on_failure and not result.ok:
                break
    return results


def send_event(
    target: Webhook | str,
    canary: Canary,
    message: str,
    phase: str,
    *,
    checksum: str = "",
    warning: bool = False,
    now: datetime | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> WebhookResult:
    """Send one event to an ``event`` webhook, or to a URL (the global ``--event-webhook``)."""
    hook = target if isinstance(target, Webhook) else Webhook(EVENT_WEBHOOK_NAME, WebhookType.EVENT, target)
    payload = event_payload(
        canary,
        phase,
        checksum,
        message,
        event_type="Warning" if warning else "Normal",
        now=now or datetime.now(UTC),
        metadata=hook.metadata,
    )
    return _call(hook, payload, retry)


def send_events(
    canary: Canary,
    message: str,
    phase: str,
    *,
    global_url: str | None = None,
    checksum: str = "",
    warning: bool = False,
    now: datetime | None = None,
    retry: RetryPolicy = DEFAULT_RETRY,
) -> list[WebhookResult]:
    """Send an event where Flagger would: the Canary's ``event`` hooks, else the global event webhook."""
    hooks = canary.spec.analysis.webhooks_of(WebhookType.EVENT)
    targets: list[Webhook | str] = list(hooks) if hooks else ([global_url] if global_url else [])
    when = now or datetime.now(UTC)
    return [
        send_event(t, canary, message, phase, checksum=checksum, warning=warning, now=when, retry=retry)
        for t in targets
    ]


def _call(webhook: Webhook, payload: Mapping[str, Any], retry: RetryPolicy) -> WebhookResult:
    timeout = webhook.timeout.seconds or DEFAULT_TIMEOUT
    outcome = post_json(
        webhook.url,
        payload,
        timeout=timeout,
        retries=max(webhook.retries, 0),
        verify_tls=not webhook.disable_tls,
        retry=retry,
    )
    return WebhookResult(webhook.name, outcome.ok, f"POST {display_url(webhook.url)}: {outcome.detail}")
