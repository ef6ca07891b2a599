"""Revision hashes that stay put across client libraries and Kubernetes versions.

Flagger hashes its Go structs, so a new client-go with a new (empty) field
changes every hash and starts spurious rollouts (flagger#1673, #1201). We hash
*data*, not types: a canonical JSON rendering of the object after removing the
spellings that differ between sources of the same object.

What the normalisation removes, and why each is safe:

- ``null`` values. The API server omits unset fields; the Python client's
  ``to_dict()`` spells every unset field as ``None``, including fields that only
  newer client versions know about. Both mean "unset".
- Empty mappings and lists, after their contents are normalised. Go's
  ``omitempty`` drops most of them, but not all: the API returns
  ``resources: {}`` and ``metadata: {creationTimestamp: null}`` in every pod
  template, which a user's YAML never has. An empty container means "nothing set"
  everywhere in a pod template (an empty ``emptyDir: {}`` is the one that looks
  meaningful, and the API server defaults a volume without a source to exactly
  that). Items of a list are kept even when empty, so list positions never shift.
- Integral floats become ints (``1.0`` → ``1``): JSON decoders and YAML files
  disagree about ``type: number`` fields. Booleans stay booleans.

What it keeps: empty strings (``args: [""]`` and a label with an empty value are
meaningful), key order is irrelevant (keys are sorted), and nothing is
version-specific, so the same input gives the same hash forever.

Not handled here: a Kubernetes upgrade that adds a *defaulted* field changes
what the server returns for the same object. Callers that need immunity to that
should hash what they rendered, not what they read back.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

SCHEME = "sha256"


def pod_template_hash(template: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of a Deployment's ``spec.template``; the revision a Canary tracks.

    >>> user = {"spec": {"containers": [{"name": "app", "image": "app:1"}]}}
    >>> served = {"metadata": {"creationTimestamp": None},
    ...           "spec": {"containers": [{"image": "app:1", "name": "app", "resources": {}}]}}
    >>> pod_template_hash(user) == pod_template_hash(served)
    True
    """
    return _digest(normalize(template))


def config_checksum(kind: str, data: Mapping[str, Any] | None, binary_data: Mapping[str, Any] | None) -> str:
    """``sha256:<hex>`` of a ConfigMap's or Secret's contents, for ``status.trackedConfigs``.

    ``data`` is a ConfigMap's ``data`` (strings) or a Secret's ``data`` (base64
    strings, as the API returns them; raw ``bytes`` are encoded first, so both
    spellings of one Secret agree). ``binary_data`` is a ConfigMap's
    ``binaryData``. The kind is part of the hash, so a ConfigMap and a Secret
    with equal contents never share a checksum. Only the digest leaves this
    function: Secret values are never stored, but note that a low-entropy secret
    can be guessed from its digest by brute force.
    """
    body: dict[str, Any] = {"kind": kind, "data": _config_values(data)}
    binary = _config_values(binary_data)
    if binary:
        body["binaryData"] = binary
    return _digest(body)


def canonical_json(value: Any) -> bytes:
    """The exact bytes that are hashed: sorted keys, no whitespace, UTF-8, no ASCII escaping."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def normalize(value: Any) -> Any:
    """Drop nulls and empty containers, turn integral floats into ints, stringify keys.

    Raises:
        ValueError: a NaN or infinite float (JSON cannot express it).
        TypeError: a value that has no JSON form.
    """
    result = _normalize(value)
    return {} if result is _EMPTY else result


_EMPTY = object()
"""Marks a value that normalises to nothing (null, {} or [])."""


def _normalize(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool:  # the common leaves first: exact types, no MRO walk
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            item = _normalize(v)
            if item is not _EMPTY:
                out[k if type(k) is str else _key(k)] = item
        return out or _EMPTY
    if value is None:
        return _EMPTY
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            item = _normalize(v)
            if item is not _EMPTY:
                out[_key(k)] = item
        return out or _EMPTY
    if isinstance(value, list | tuple):
        items = [_normalize(v) for v in value]
        normalized = [_empty_like(v) if n is _EMPTY else n for v, n in zip(value, items, strict=True)]
        return normalized or _EMPTY
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot hash a non-finite number: {value!r}")
        return int(value) if value.is_integer() else value
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=UTC)
        return stamp.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot hash a value of type {type(value).__name__}")


def _empty_like(original: Any) -> Any:
    """A list item that normalised to nothing keeps its place, in one canonical spelling."""
    if isinstance(original, Mapping):
        return {}
    if isinstance(original, list | tuple):
        return []
    return None


def _key(key: Any) -> str:
    """JSON keys are strings; YAML may give ``1`` or ``true`` as a key."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, int | float):
        return str(_normalize(key))
    raise TypeError(f"cannot hash a mapping key of type {type(key).__name__}")


def _config_values(values: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (values or {}).items():
        if v is None:
            continue
        out[str(k)] = base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else str(v)
    return out


def _digest(body: Any) -> str:
    return f"{SCHEME}:{hashlib.sha256(canonical_json(body)).hexdigest()}"
