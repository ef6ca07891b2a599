"""The import direction runs one way: cli → engine → adapters → render → decide → model.

A package may import its own layer or any layer below it, never one above. This
keeps the decision core free of I/O and lets each layer be tested on its own.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gitflagger"
LAYERS = ["model", "decide", "render", "adapters", "engine", "cli"]
RANK = {name: i for i, name in enumerate(LAYERS)}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "gitflagger" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in RANK else None


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if _layer_of_path(p) is not None)


def _layer_of_path(path: Path) -> str | None:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 and rel[0] in RANK else None


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_point_down(path: Path) -> None:
    own = _layer_of_path(path)
    assert own is not None
    upward = [
        f"{path.name}:{line} imports {module}"
        for line, module in _imports(path)
        if (target := _layer_of(module)) is not None and RANK[target] > RANK[own]
    ]
    assert upward == [], f"{own} must not import a higher layer: {upward}"


def test_every_layer_exists() -> None:
    assert [p.name for p in sorted(PACKAGE.iterdir()) if p.name in RANK] == sorted(LAYERS)
