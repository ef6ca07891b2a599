"""Kubernetes API failures as :mod:`gitflagger.errors`, decided in one place.

Every request of :class:`~gitflagger.adapters.kube.KubeCluster` goes through
:func:`from_status` or :func:`from_transport`, so no ``ApiException`` and no
``urllib3`` error reaches the engine. The class says what the caller does next:

* :class:`TemporaryError` subclasses (retry later): :class:`Conflict` (a
  resourceVersion precondition lost a race: re-read, re-apply),
  :class:`WatchExpired` (410 Gone: list again, then watch from the new
  resourceVersion), :class:`TooManyRequests`, :class:`ServerError`,
  :class:`Unavailable` (no connection, timeout, a server restarting).
* :class:`PermanentError` subclasses (retrying the same request will not help):
  :class:`NotFound`, :class:`Forbidden` (RBAC), :class:`Invalid` (the manifest
  or patch is wrong), :class:`ApplyConflict` (another field manager owns a
  field gitflagger does not force), :class:`KubeApiError` for the rest.

Each error keeps the HTTP ``status`` (0 without a response) and the API's
``reason`` (``NotFound``, ``Conflict``, ...) for logs and tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gitflagger.errors import PermanentError, TemporaryError

__all__ = [
    "AlreadyExists",
    "ApplyConflict",
    "Conflict",
    "Forbidden",
    "Invalid",
    "KubeApiError",
    "KubeTemporaryError",
    "NotFound",
    "ServerError",
    "TooManyRequests",
    "Unavailable",
    "WatchExpired",
    "from_status",
    "from_transport",
]


class KubeApiError(PermanentError):
    """A request the API server refused for good; also the base of the permanent kinds below."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class KubeTemporaryError(TemporaryError):
    """A request that may succeed later; the base of the temporary kinds below."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "", delay: float = 1.0) -> None:
        super().__init__(message, delay=delay)
        self.status = status
        self.reason = reason


class NotFound(KubeApiError):
    """404: the object (or its kind: a CRD not installed) does not exist."""


class Forbidden(KubeApiError):
    """401 or 403: the credentials or the RBAC rules do not allow this request."""


class Invalid(KubeApiError):
    """400 or 422: the object or patch was rejected by validation."""


class ApplyConflict(KubeApiError):
    """409 on server-side apply: fields owned by another manager, and gitflagger did not force."""


class Conflict(KubeTemporaryError):
    """409: the object changed since it was read (resourceVersion or uid precondition failed)."""


class AlreadyExists(Conflict):
    """409 on create: someone created the object first. Read it and decide again."""


class WatchExpired(KubeTemporaryError):
    """410 Gone: the resourceVersion is too old to resume from. List again, then watch."""


class TooManyRequests(KubeTemporaryError):
    """429: the server throttles us (API priority and fairness); ``delay`` honours Retry-After."""


class ServerError(KubeTemporaryError):
    """5xx: the API server or a webhook it called failed."""


class Unavailable(KubeTemporaryError):
    """No answer at all: connection refused or reset, TLS failure, timeout."""


def _status_text(body: bytes | str | Mapping[str, Any] | None) -> tuple[str, str, list[dict[str, Any]]]:
    """(message, reason, causes) from a ``metav1.Status`` body; plain text bodies become the message."""
    if body is None:
        return "", "", []
    doc: Any = body
    if isinstance(body, bytes | str):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            doc = json.loads(text)
        except ValueError:
            return " ".join(text.split())[:300], "", []
    if not isinstance(doc, Mapping):
        return "", "", []
    details = doc.get("details")
    causes = details.get("causes") if isinstance(details, Mapping) else None
    return (
        " ".join(str(doc.get("message") or "").split()),
        str(doc.get("reason") or ""),
        [c for c in causes or () if isinstance(c, dict)],
    )


def _retry_after(headers: Mapping[str, str] | None, default: float) -> float:
    raw = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else default
    except ValueError:
        return default


def from_status(
    status: int,
    body: bytes | str | Mapping[str, Any] | None,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    apply: bool = False,
) -> KubeApiError | KubeTemporaryError:
    """The error for a non-2xx answer. ``what`` names the request: ``get deployments test/podinfo``.

    ``apply`` marks a server-side apply, whose 409 means a field-manager conflict
    (:class:`ApplyConflict`, permanent unless forced) rather than a lost race.
    """
    message, reason, causes = _status_text(body)
    text = f"{what}: {message or 'no message'} ({status}{' ' + reason if reason else ''})"
    if status == 404:
        return NotFound(text, status=status, reason=reason)
    if status in (401, 403):
        return Forbidden(text, status=status, reason=reason)
    if status in (400, 422):
        return Invalid(text, status=status, reason=reason)
    if status == 409:
        if reason == "AlreadyExists":
            return AlreadyExists(text, status=status, reason=reason, delay=0.0)
        if apply or any(c.get("type") == "FieldManagerConflict" for c in causes):
            return ApplyConflict(text, status=status, reason=reason)
        return Conflict(text, status=status, reason=reason, delay=0.0)
    if status == 410:
        return WatchExpired(text, status=status, reason=reason or "Expired", delay=0.0)
    if status == 429:
        return TooManyRequests(text, status=status, reason=reason, delay=_retry_after(headers, 1.0))
    if status >= 500:
        return ServerError(text, status=status, reason=reason, delay=_retry_after(headers, 1.0))
    return KubeApiError(text, status=status, reason=reason)


def from_transport(exc: BaseException, *, what: str) -> Unavailable:
    """The error for a request that got no HTTP answer (urllib3 or socket failure)."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return Unavailable(f"{what}: API server unreachable: {type(exc).__name__}: {detail[:300]}", delay=2.0)
