"""Every HTTP request to the API server, in one place: rate limit, count, send, translate.

We use the official client for what it does well (kubeconfig and in-cluster
loading, TLS and client certificates, token refresh, proxies: its configured
``urllib3`` pool) and send plain JSON ourselves. The generated typed API
would turn every object into model classes only for us to turn them back into
dicts, and it cannot speak server-side apply, watch bookmarks or status
preconditions any better than a path and a body can.

Each request takes a token from the :class:`TokenBucket`, counts once in
:attr:`Transport.requests_made` (urllib3 retries are off, so one call is one
HTTP request) and either returns the decoded body or raises one of
:mod:`gitflagger.adapters.kube.errors`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import urllib3

from gitflagger.adapters.kube.errors import ServerError, from_status, from_transport
from gitflagger.adapters.kube.ratelimit import TokenBucket

__all__ = ["JSON_PATCH", "MERGE_PATCH", "SSA_PATCH", "LineStream", "Transport", "strip_managed_fields"]

SSA_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
USER_AGENT = "gitflagger/0.1.0"

Query = Sequence[tuple[str, str]]


def strip_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without ``metadata.managedFields`` (in place; returned for chaining).

    managedFields are often the biggest part of an object and nothing but the
    apply logic reads them; a controller that keeps thousands of objects in
    memory should not carry them (issue 5, part 1).
    """
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


class Transport:
    """Sends requests with an ``ApiClient``'s configuration and connection pool."""

    def __init__(self, api_client: Any, limiter: TokenBucket) -> None:
        self.api_client = api_client
        self.limiter = limiter
        self._lock = threading.Lock()
        self._count = 0
        self._writes = 0

    @property
    def requests_made(self) -> int:
        """Every request sent, watches and discovery included."""
        return self._count

    @property
    def writes_made(self) -> int:
        """Requests that could change the cluster: POST, PUT, PATCH, DELETE without ``dryRun``."""
        return self._writes

    def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        config = self.api_client.configuration
        for setting in (config.auth_settings() or {}).values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        return headers

    def _send(
        self,
        method: str,
        path: str,
        query: Query,
        body: Any,
        content_type: str | None,
        read_timeout: float,
        what: str,
    ) -> urllib3.BaseHTTPResponse:
        self.limiter.acquire()
        url = self.api_client.configuration.host + path + ("?" + urlencode(list(query)) if query else "")
        data = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        with self._lock:
            self._count += 1
            if method != "GET" and not any(k == "dryRun" for k, _ in query):
                self._writes += 1
        try:
            response: urllib3.BaseHTTPResponse = self.api_client.rest_client.pool_manager.request(
                method,
                url,
                body=data,
                headers=self._headers(content_type if data is not None else None),
                timeout=urllib3.Timeout(connect=CONNECT_TIMEOUT, read=read_timeout),
                retries=False,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise from_transport(exc, what=what) from None
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        query: Query = (),
        body: Any = None,
        content_type: str | None = None,
        apply: bool = False,
    ) -> dict[str, Any]:
        """The decoded JSON answer to one request; raises a translated error for anything else.

        ``what`` names the request in error messages (``get deployments test/podinfo``);
        ``apply`` marks a server-side apply so a 409 reads as a field-manager conflict.
        """
        response = self._send(method, path, query, body, content_type, READ_TIMEOUT, what)
        try:
            raw = response.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise from_transport(exc, what=what) from None
        finally:
            response.release_conn()
        if not 200 <= response.status <= 299:
            raise from_status(
                response.status, raw, what=what, headers=dict(response.headers), apply=apply
            ) from None
        doc = _json(raw, what) if raw else {}
        return doc

    def stream(self, path: str, *, what: str, query: Query, read_timeout: float) -> LineStream:
        """GET a watch now; return its JSON lines as they arrive.

        The request is sent (and a refusal raised) before this returns, not at
        the first ``next()``.
        """
        response = self._send("GET", path, query, None, None, read_timeout, what)
        if not 200 <= response.status <= 299:
            try:
                body = response.read()
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise from_transport(exc, what=what) from None
            finally:
                response.release_conn()
            raise from_status(response.status, body, what=what, headers=dict(response.headers))
        return LineStream(response, what)


class LineStream(Iterator[dict[str, Any]]):
    """The JSON lines of a streamed response; :meth:`close` drops the connection (started or not)."""

    def __init__(self, response: urllib3.BaseHTTPResponse, what: str) -> None:
        self._response = response
        self._what = what
        self._lines = self._read()

    def __next__(self) -> dict[str, Any]:
        return next(self._lines)

    def _read(self) -> Iterator[dict[str, Any]]:
        pending = b""
        try:
            for chunk in self._response.stream(amt=None, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield _json(line, self._what)
            if pending.strip():
                yield _json(pending, self._what)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise from_transport(exc, what=self._what) from None
        finally:
            self.close()

    def close(self) -> None:
        """Close the connection: an unfinished chunked stream must never go back to the pool.

        The socket is shut down first, so a thread blocked reading this stream
        wakes up at once (closing alone does not interrupt a blocked read, and
        the server would keep the watch open).
        """
        shutdown = getattr(self._response, "shutdown", None)
        if callable(shutdown):
            with contextlib.suppress(ValueError, RuntimeError, OSError):
                shutdown()
        self._response.close()
        self._response.release_conn()


def _json(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object from the server; anything else is a broken proxy or server (temporary)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        doc = None
    if not isinstance(doc, Mapping):
        excerpt = " ".join(raw[:200].decode("utf-8", "replace").split())
        raise ServerError(
            f"{what}: the API server answered with something other than a JSON object: {excerpt!r}"
        )
    return dict(doc)
