"""Typed readers for untrusted documents that collect problems instead of raising.

A Canary arrives as decoded YAML or JSON: any value may have any type. Each
reader here takes the parent mapping, a key and the parent's path, returns the
typed value (or ``None`` when it is absent or invalid) and records a
:class:`~gitflagger.errors.FieldProblem` for anything wrong. Parsing therefore
goes on after the first mistake, and the user sees every problem in one
:class:`~gitflagger.errors.ValidationError` instead of fixing them one by one.

``null`` counts as absent: in a Kubernetes object an explicit ``null`` means
"unset", and ``spec: null`` must read as "spec is required", not as a crash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from gitflagger.errors import FieldProblem
from gitflagger.model.durations import Duration, parse_duration

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")
_RFC1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def join(path: str, key: str | int) -> str:
    """``join("spec.analysis", "metrics")`` → ``spec.analysis.metrics``; an int key is a list index.

    Keys that are not plain field names (label keys such as ``app.kubernetes.io/name``,
    or anything a user typed) are quoted, ``metadata.labels["app.kubernetes.io/name"]``,
    so a path is unambiguous and always one printable line.
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def describe(value: object) -> str:
    """A short, safe rendering of a bad value for an error message.

    Containers are named, not dumped, so one message stays one line; long
    strings are cut; huge integers are not printed (``str()`` of a 5000-digit
    int raises in Python 3.11, and a validation message must never raise).
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else "a very large integer"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a {type(value).__name__}"


class Problems:
    """The problems found so far, plus typed readers that add to them."""

    def __init__(self) -> None:
        self.items: list[FieldProblem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(FieldProblem(path, message))

    def under(self, path: str) -> bool:
        """Whether a problem was recorded at ``path`` or below it (cross-field checks skip those)."""
        return any(p.path == path or p.path.startswith((path + ".", path + "[")) for p in self.items)

    # -- structure ---------------------------------------------------------------

    def mapping(
        self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = False
    ) -> Mapping[str, Any] | None:
        value = obj.get(key)
        if value is None:
            if required:
                self.add(join(path, key), "is required")
            return None
        if not isinstance(value, Mapping):
            self.add(join(path, key), f"must be a mapping, got {describe(value)}")
            return None
        return value

    def items_of(self, obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
        """A list field; absent is an empty list."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list | tuple):
            self.add(join(path, key), f"must be a list, got {describe(value)}")
            return []
        return list(value)

    def mappings_of(self, obj: Mapping[str, Any], key: str, path: str) -> list[tuple[str, Mapping[str, Any]]]:
        """A list of mappings, each with its own path; non-mapping items are reported and skipped."""
        out: list[tuple[str, Mapping[str, Any]]] = []
        for i, item in enumerate(self.items_of(obj, key, path)):
            item_path = join(join(path, key), i)
            if isinstance(item, Mapping):
                out.append((item_path, item))
            else:
                self.add(item_path, f"must be a mapping, got {describe(item)}")
        return out

    def json_block(self, obj: Mapping[str, Any], key: str, path: str) -> Any:
        """An Istio block copied through untouched; only its outer shape (a mapping) is checked."""
        return self.mapping(obj, key, path)

    # -- scalars -----------------------------------------------------------------

    def string(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
        value = obj.get(key)
        if value is None or (required and value == ""):
            if required:
                self.add(join(path, key), "is required")
            return None
        if not isinstance(value, str):
            self.add(join(path, key), f"must be a string, got {describe(value)}")
            return None
        return value

    def name(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> str | None:
        """An object name. It becomes part of file paths in the config repo, so it must be RFC 1123."""
        value = self.string(obj, key, path, required=required)
        if value is not None and (len(value) > 253 or not _RFC1123_SUBDOMAIN.fullmatch(value)):
            self.add(
                join(path, key),
                f"must be a lowercase RFC 1123 name (a-z, 0-9, '-' and '.'), got {describe(value)}",
            )
            return None
        return value

    def boolean(self, obj: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            self.add(join(path, key), f"must be true or false, got {describe(value)}")
            return None
        return value

    def integer(
        self,
        obj: Mapping[str, Any],
        key: str,
        path: str,
        *,
        lo: int | None = None,
        hi: int | None = None,
        required: bool = False,
    ) -> int | None:
        """An integer in ``[lo, hi]``. ``10.0`` counts as 10: CRDs declare ``type: number``."""
        value = obj.get(key)
        if value is None:
            if required:
                self.add(join(path, key), "is required")
            return None
        return self.integer_value(value, join(path, key), lo=lo, hi=hi)

    def integer_value(
        self, value: object, path: str, *, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        """:meth:`integer` for a value already in hand (a list item, say), reported at ``path``."""
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(path, f"must be an integer, got {describe(value)}")
            return None
        if lo is not None and hi is not None and not lo <= value <= hi:
            self.add(path, f"must be between {lo} and {hi}, got {describe(value)}")
            return None
        if lo is not None and value < lo:
            self.add(path, f"must be at least {lo}, got {describe(value)}")
            return None
        return value

    def number(self, obj: Mapping[str, Any], key: str, path: str) -> float | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.add(join(path, key), f"must be a number, got {describe(value)}")
            return None
        try:
            result = float(value)
        except OverflowError:
            result = math.inf
        if not math.isfinite(result):
            self.add(join(path, key), f"must be a finite number, got {describe(value)}")
            return None
        return result

    def duration(
        self, obj: Mapping[str, Any], key: str, path: str, *, positive: bool = False
    ) -> Duration | None:
        """A Go duration string such as ``30s`` or ``1m30s``."""
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.add(join(path, key), f"must be a duration such as 30s or 1m, got {describe(value)}")
            return None
        try:
            parsed = parse_duration(value)
        except ValueError as err:
            # The message quotes the raw text; escape it so the message stays one line.
            self.add(join(path, key), str(err).replace(f'"{value}"', json.dumps(value, ensure_ascii=False)))
            return None
        if positive and parsed.nanoseconds <= 0:
            self.add(join(path, key), f"must be longer than 0s, got {describe(value)}")
            return None
        return parsed

    def string_map(self, obj: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
        """Labels, annotations, webhook metadata: string keys to string values."""
        value = self.mapping(obj, key, path)
        if value is None:
            return {}
        out: dict[str, str] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                self.add(join(path, key), f"keys must be strings, got {describe(k)}")
            elif not isinstance(v, str):
                self.add(join(join(path, key), k), f"must be a string, got {describe(v)}")
            else:
                out[k] = v
        return out

    def strings(self, obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        out: list[str] = []
        for i, item in enumerate(self.items_of(obj, key, path)):
            if isinstance(item, str):
                out.append(item)
            else:
                self.add(join(join(path, key), i), f"must be a string, got {describe(item)}")
        return tuple(out)
