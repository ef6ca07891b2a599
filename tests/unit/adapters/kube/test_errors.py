"""The API server's answers, translated into gitflagger.errors in one table."""

from __future__ import annotations

import json

import pytest
import urllib3

from gitflagger.adapters.kube import (
    AlreadyExists,
    ApplyConflict,
    Conflict,
    Forbidden,
    Invalid,
    KubeApiError,
    NotFound,
    ServerError,
    TooManyRequests,
    Unavailable,
    WatchExpired,
)
from gitflagger.adapters.kube.errors import from_status, from_transport
from gitflagger.errors import PermanentError, TemporaryError


def status(code: int, reason: str, message: str, causes: list[dict[str, str]] | None = None) -> bytes:
    doc: dict[str, object] = {
        "kind": "Status",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }
    if causes is not None:
        doc["details"] = {"causes": causes}
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("code", "reason", "apply", "expected", "temporary"),
    [
        pytest.param(404, "NotFound", False, NotFound, False, id="404"),
        pytest.param(401, "Unauthorized", False, Forbidden, False, id="401"),
        pytest.param(403, "Forbidden", False, Forbidden, False, id="403"),
        pytest.param(400, "BadRequest", False, Invalid, False, id="400"),
        pytest.param(422, "Invalid", False, Invalid, False, id="422"),
        pytest.param(409, "Conflict", False, Conflict, True, id="409-lost-race"),
        pytest.param(409, "AlreadyExists", False, AlreadyExists, True, id="409-already-exists"),
        pytest.param(409, "Conflict", True, ApplyConflict, False, id="409-on-apply"),
        pytest.param(410, "Expired", False, WatchExpired, True, id="410"),
        pytest.param(429, "TooManyRequests", False, TooManyRequests, True, id="429"),
        pytest.param(500, "InternalError", False, ServerError, True, id="500"),
        pytest.param(503, "ServiceUnavailable", False, ServerError, True, id="503"),
        pytest.param(405, "MethodNotAllowed", False, KubeApiError, False, id="405"),
    ],
)
def test_status_codes(
    code: int, reason: str, apply: bool, expected: type[Exception], temporary: bool
) -> None:
    err = from_status(
        code, status(code, reason, "the message"), what="get deployments.apps test/podinfo", apply=apply
    )

    assert type(err) is expected
    assert isinstance(err, TemporaryError if temporary else PermanentError)
    assert err.status == code
    assert str(err) == f"get deployments.apps test/podinfo: the message ({code} {reason})"


def test_a_field_manager_conflict_is_an_apply_conflict_even_without_the_apply_hint() -> None:
    body = status(
        409,
        "Conflict",
        'Apply failed with 1 conflict: conflict with "someone-else": .data.mode',
        causes=[
            {"type": "FieldManagerConflict", "message": 'conflict with "someone-else"', "field": ".data.mode"}
        ],
    )

    err = from_status(409, body, what="apply configmaps test/settings")

    assert isinstance(err, ApplyConflict)
    assert "someone-else" in str(err)


def test_retry_after_sets_the_delay() -> None:
    err = from_status(429, b"", what="list canaries.flagger.app", headers={"Retry-After": "7"})

    assert isinstance(err, TooManyRequests) and err.delay == 7.0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b"upstream connect error\n  or disconnect", "upstream connect error or disconnect", id="text"
        ),
        pytest.param(b"", "no message", id="empty"),
        pytest.param(None, "no message", id="none"),
        pytest.param(b"[1, 2]", "no message", id="json-not-a-status"),
    ],
)
def test_bodies_that_are_not_a_status_still_give_one_line(body: bytes | None, message: str) -> None:
    err = from_status(502, body, what="get services test/podinfo")

    assert str(err) == f"get services test/podinfo: {message} (502)"


def test_a_failed_connection_is_unavailable_and_temporary() -> None:
    cause = urllib3.exceptions.MaxRetryError(
        None,  # type: ignore[arg-type]
        "/api/v1/namespaces",
        reason=urllib3.exceptions.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
    )

    err = from_transport(cause, what="list namespaces")

    assert isinstance(err, Unavailable) and isinstance(err, TemporaryError)
    assert err.status == 0 and err.delay > 0
    assert str(err).startswith("list namespaces: API server unreachable: MaxRetryError: ")
    assert "\n" not in str(err)
