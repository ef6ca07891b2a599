"""Credentials out of text that is kept: commits, ``canary.yaml``, logs and Events.

People put credentials in webhook ``metadata`` (``cmd: curl -H 'Authorization:
Bearer …' https://user:pw@host/?token=…``) and in URLs. The live Canary keeps them
(the webhook call needs them); everything gitflagger *writes down* goes through
this module first. It is pure (strings and mappings in, copies out) so the
controller and the load tester share one implementation.

What is replaced by ``<redacted>``:

- the credential of an ``Authorization`` / ``Proxy-Authorization`` header; a
  ``Bearer``/``Basic``/``Token``/``Digest`` scheme word is kept, so the reader
  still sees which kind was sent;
- the value of a header whose name is credential-like (``X-API-Key: …``,
  ``Private-Token: …``, ``Cookie: …``) where a header is written: at a line start,
  after a quote, or after curl's ``-H``;
- URL userinfo: ``scheme://user:pass@host`` → ``scheme://<redacted>@host``;
- the value of a query or form parameter (``?``, ``&``, ``;`` or a word start before
  ``name=``) and of a JSON string member (``"name": "…"``) whose name is credential-like;
- the value of curl's ``-u``/``--user``, ``-U``/``--proxy-user``, ``--oauth2-bearer``,
  ``--pass``, ``--proxy-pass`` and ``--tlspassword`` options.

A name is credential-like (:data:`SENSITIVE_NAMES`, case-insensitive) when it is one
of ``key``, ``sig``, ``pwd``, ``pass``, ``auth`` or ``session``, or contains one of
``token``, ``secret``, ``passw``, ``apikey``, ``api_key``, ``api-key``, ``authoriz``,
``auth_``, ``auth-``, ``_auth``, ``-auth``, ``signature``, ``credential``, ``bearer``,
``cookie`` or ``private`` (so ``author`` is not, ``basic_auth`` is). Webhook
``metadata`` values under such keys are replaced whole.

This is pattern matching, so it is best effort for free text: a secret pasted
without a recognisable name or place (a bare ``deadbeef`` argument) is not found.
Prefer Flagger's way: keep secrets in a Secret the load test reads, not in the Canary.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACTED = "<redacted>"

_EXACT = ("key", "sig", "pwd", "pass", "auth", "session")
_PARTS = ("token", "secret", "passw", "apikey", "api_key", "api-key", "authoriz", "auth_", "auth-",
          "_auth", "-auth", "signature", "credential", "bearer", "cookie", "private")
SENSITIVE_NAMES = (*_EXACT, *_PARTS)
"""The names (exact) and name parts (contained) that mark a value as a credential."""

_NAME_CHARS = r"[A-Za-z0-9_.\-]"
_SENSITIVE = rf"(?:{'|'.join(_EXACT)}|{_NAME_CHARS}*(?:{'|'.join(map(re.escape, _PARTS))}){_NAME_CHARS}*)"

_AUTH_HEADER = re.compile(
    r"(?i)(\b(?:proxy-)?authorization\s*:\s*)(?:(bearer|basic|token|digest|negotiate|apikey)(?:\\?\s)+)?"
    r"([^\s'\",;]+)"
)
"""``Authorization: Bearer abc`` → keeps ``Authorization: Bearer `` and redacts ``abc``."""

_HEADER = re.compile(
    rf"(?im)(?P<pre>(?:^|['\"]|(?<!\S)(?:-H|--header|--proxy-header)[\s=]*)\s*)"
    rf"(?P<name>{_SENSITIVE})(?P<sep>\s*:\s*)(?!//)(?P<value>[^\s'\",;]+)"
)
"""``-H 'X-API-Key: abc'``: a header where a header is written (a line start, a quote, or
after curl's ``-H``), so ``metric token-errors: connection refused`` keeps its text."""

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s'\"?#]+@")
"""``https://user:pw@host`` (or ``https://token@host``)."""

_PARAM = re.compile(rf"(?i)((?:^|[?&;\s'\"(\[{{]){_SENSITIVE}=)([^&#\s'\";]+)")
"""``?token=abc``, ``&api_key=abc``, ``password=abc`` at a word start."""

_JSON_MEMBER = re.compile(rf"(?i)(\"(?:[^\"\\/]*/)?{_SENSITIVE}\"\s*:\s*\")((?:[^\"\\]|\\.)*)(\")")
"""``"password": "abc"`` inside a JSON body; also a prefixed key (``"example.com/api-token"``)."""

_CURL_SECRET_OPTION = re.compile(
    r"((?:^|\s)(?:-u|-U|--user|--proxy-user|--oauth2-bearer|--pass|--proxy-pass|--tlspassword"
    r"|--proxy-tlspassword)(?:\s+|=))('[^']*'|\"[^\"]*\"|\S+)"
)
"""curl options whose value is a credential: the value, quoted or not, goes."""

_SENSITIVE_KEY = re.compile(rf"(?i)^{_SENSITIVE}$")


def sensitive_name(name: str) -> bool:
    """True for a key, header or parameter name that usually holds a credential.

    A Kubernetes-style prefix (``example.com/api-token``) is not part of the name.

    >>> names = ("token", "X-Api-Key", "apiKey", "example.com/api-token", "monkey", "cmd")
    >>> [sensitive_name(n) for n in names]
    [True, True, True, True, False, False]
    """
    return bool(_SENSITIVE_KEY.match(name.rsplit("/", 1)[-1]))


def redact_text(text: str) -> str:
    """``text`` with every credential this module recognises replaced by ``<redacted>``.

    >>> redact_text("curl -H 'Authorization: Bearer abc' https://u:p@h/x?token=t&page=2")
    "curl -H 'Authorization: Bearer <redacted>' https://<redacted>@h/x?token=<redacted>&page=2"
    """
    if not text:
        return text
    text = _CURL_SECRET_OPTION.sub(_keep_quotes, text)
    text = _AUTH_HEADER.sub(_auth, text)
    text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _JSON_MEMBER.sub(rf"\1{REDACTED}\3", text)
    text = _PARAM.sub(_param, text)
    return _HEADER.sub(_header, text)


def _keep_quotes(match: re.Match[str]) -> str:
    value = match.group(2)
    quote = value[0] if value[:1] in ("'", '"') else ""
    return f"{match.group(1)}{quote}{REDACTED}{quote}"


def _auth(match: re.Match[str]) -> str:
    scheme = f"{match.group(2)} " if match.group(2) else ""
    return f"{match.group(1)}{scheme}{REDACTED}"


def _param(match: re.Match[str]) -> str:
    return match.group(1) + (match.group(2) if match.group(2) == REDACTED else REDACTED)


def _header(match: re.Match[str]) -> str:
    if match["name"].lower() in ("authorization", "proxy-authorization") or match["value"] == REDACTED:
        return match.group(0)  # already handled, scheme word kept
    return match["pre"] + match["name"] + match["sep"] + REDACTED


def redact_value(value: Any) -> Any:
    """Strings redacted with :func:`redact_text`; mappings and lists walked; anything else as is."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return redact_metadata(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def redact_metadata(metadata: Mapping[Any, Any]) -> dict[Any, Any]:
    """Webhook ``metadata``: values under credential-like keys replaced whole, others scanned."""
    return {
        k: REDACTED if sensitive_name(str(k)) else redact_value(v) for k, v in metadata.items()
    }


def redact_webhook(hook: Mapping[str, Any]) -> dict[str, Any]:
    """A Canary webhook for the record: ``url`` userinfo and query, and ``metadata``, redacted."""
    out = dict(hook)
    if isinstance(out.get("url"), str):
        out["url"] = redact_text(out["url"])
    if isinstance(out.get("metadata"), Mapping):
        out["metadata"] = redact_metadata(out["metadata"])
    return out


def redact_canary_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The Canary spec for the record, with its webhooks redacted (the rest copied as given).

    Rebuilding state from git reads only the snapshot's ``status``, so nothing
    depends on the redacted values; the live Canary keeps them.
    """
    out = dict(spec)
    for block in ("analysis", "canaryAnalysis"):
        analysis = out.get(block)
        if not isinstance(analysis, Mapping) or not isinstance(analysis.get("webhooks"), list):
            continue
        hooks = [redact_webhook(h) if isinstance(h, Mapping) else h for h in analysis["webhooks"]]
        out[block] = {**analysis, "webhooks": hooks}
    return out
