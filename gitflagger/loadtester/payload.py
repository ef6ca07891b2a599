"""The body Flagger POSTs to every webhook, parsed and checked once at the edge.

Flagger sends ``{"name", "namespace", "phase", "checksum", "metadata"}`` where
``metadata`` is a map of strings (Go's ``map[string]string``: any other value type
makes Flagger's own load tester answer 400, so we do too).

Names are checked against Kubernetes naming rules because they become part of a
path in the gate repo (``approvals/<namespace>/<name>/...``): a name such as
``../x`` must never reach a lookup.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# DNS-1123 subdomain (Canary names) and label (namespaces): no empty segments, so no "..".
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
# Flagger's checksum is a short safe-encoded hash; allow any plain file name, never "." or "..".
_CHECKSUM = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}")

_TRUE = {"1", "t", "T", "true", "TRUE", "True"}


class PayloadError(ValueError):
    """The request body is not a usable Flagger webhook payload (HTTP 400)."""


@dataclass(frozen=True)
class WebhookPayload:
    """One webhook call from Flagger (or from a person with ``curl``)."""

    name: str
    namespace: str
    phase: str = ""
    checksum: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def canary(self) -> str:
        """``name.namespace``: Flagger's key for tasks and gates, and our log field."""
        return f"{self.name}.{self.namespace}"

    def flag(self, key: str) -> bool:
        """A boolean metadata value read the way Go's ``strconv.ParseBool`` reads it.

        Flagger ignores a parse error and treats it as false; so do we.

        >>> WebhookPayload("a", "b", metadata={"logCmdOutput": "T"}).flag("logCmdOutput")
        True
        """
        return self.metadata.get(key, "") in _TRUE

    @classmethod
    def parse(cls, body: bytes) -> WebhookPayload:
        """Decode and validate a request body, or raise :class:`PayloadError` saying what is wrong."""
        try:
            raw = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PayloadError(f"decoding the request body failed: {err}") from None
        if not isinstance(raw, dict):
            raise PayloadError("decoding the request body failed: expected a JSON object")
        name, namespace = raw.get("name"), raw.get("namespace")
        if not isinstance(name, str) or not _SUBDOMAIN.fullmatch(name) or len(name) > 253:
            raise PayloadError(f"name must be a Kubernetes object name, got {name!r}")
        if not isinstance(namespace, str) or not _LABEL.fullmatch(namespace) or len(namespace) > 63:
            raise PayloadError(f"namespace must be a Kubernetes namespace name, got {namespace!r}")
        phase = _optional_str(raw, "phase")
        checksum = _optional_str(raw, "checksum")
        if checksum and not _CHECKSUM.fullmatch(checksum):
            raise PayloadError(f"checksum must be letters, digits, '.', '_' or '-', got {checksum!r}")
        metadata = raw.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            raise PayloadError("metadata must be a map of strings to strings")
        return cls(name, namespace, phase, checksum, MappingProxyType(dict(metadata)))


def _optional_str(raw: Mapping[str, object], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise PayloadError(f"{key} must be a string, got {value!r}")
    return value
