"""Building blocks for Canary tests: a minimal valid document and dotted-path edits."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from gitflagger.errors import ValidationError
from gitflagger.model import parse_canary

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"

DELETE = object()
"""Pass as a value to :func:`edited` to remove the field."""


def minimal(api_version: str = "flagger.app/v1beta1", analysis_key: str = "analysis") -> dict[str, Any]:
    """The smallest valid Canary: a Deployment target, a port and a step weight."""
    return {
        "apiVersion": api_version,
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": "test"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            analysis_key: {"stepWeight": 10},
        },
    }


def edited(doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with ``spec__analysis__stepWeight=0``-style edits applied.

    Path parts are separated by ``__``; a numeric part indexes a list.
    """
    out = copy.deepcopy(doc)
    for dotted, value in changes.items():
        parts = dotted.split("__")
        node: Any = out
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return out


def problems_of(doc: object) -> list[str]:
    """The problems ``parse_canary`` reports for ``doc``, as ``path: message`` lines."""
    with pytest.raises(ValidationError) as info:
        parse_canary(doc)
    return [str(p) for p in info.value.problems]
