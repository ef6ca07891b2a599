"""The import direction runs one way: cli → engine, loadtester → adapters → render → decide → model → errors.

A package may import its own layer or a layer it is allowed to use, never one
above. This keeps the decision core free of I/O and lets each layer be tested on
its own. ``loadtester`` is a separate program sharing the adapters: it and the
engine never import each other, and only the CLI imports either.

Every way an import can be written counts: ``import gitflagger.x``,
``from gitflagger.x import y``, ``from gitflagger import x`` and relative
imports. Dynamic imports (``importlib``, ``__import__``) are refused outright,
since no source scan can follow them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gitflagger"
BELOW: dict[str, set[str]] = {
    "errors": set(),
    "killswitch": {"errors"},
    "model": {"errors"},
    "decide": {"errors", "model"},
    "render": {"errors", "model", "decide"},
    "adapters": {"errors", "killswitch", "model", "decide", "render"},
    "loadtester": {"errors", "model", "decide", "render", "adapters"},
    "engine": {"errors", "killswitch", "model", "decide", "render", "adapters"},
    "cli": {"errors", "killswitch", "model", "decide", "render", "adapters", "loadtester", "engine"},
}
"""What each layer may import besides itself (and the root package's ``__version__``)."""
DYNAMIC = {"__import__", "import_module"}
STATIC_IMPORTLIB = {"importlib.metadata", "importlib.resources"}
"""Parts of ``importlib`` that read package data and import nothing."""


def _layer_of_module(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "gitflagger" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in BELOW else None


def _layer_of_path(path: Path, root: Path) -> str:
    first = path.relative_to(root).parts[0]
    return first.removesuffix(".py") if first.endswith(".py") else first


def _package_of(path: Path, root: Path) -> list[str]:
    """``gitflagger.decide`` for ``decide/x.py`` and for ``decide/__init__.py``."""
    parts = ["gitflagger", *path.relative_to(root).parts]
    return parts[:-1]


def _targets(path: Path, root: Path) -> list[tuple[int, str]]:
    """Every module a file imports, relative imports resolved, ``from p import m`` as ``p.m``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package_of(path, root)
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _dynamic(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [
                f"line {node.lineno}: import {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "importlib" and a.name not in STATIC_IMPORTLIB
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "importlib":
            module = node.module or ""
            names = [a.name for a in node.names if f"{module}.{a.name}" not in STATIC_IMPORTLIB]
            if module not in STATIC_IMPORTLIB and names:
                out.append(f"line {node.lineno}: from {module} import {', '.join(names)}")
        elif isinstance(node, ast.Name) and node.id in DYNAMIC:
            out.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in DYNAMIC:
            out.append(f"line {node.lineno}: .{node.attr}")
    return out


def violations(path: Path, root: Path = PACKAGE) -> list[str]:
    """Why ``path`` (a file under the package ``root``) breaks the layering; empty when it does not."""
    own = _layer_of_path(path, root)
    if own not in BELOW:
        return [f"{path.name} is in no layer: add it to BELOW"]
    allowed = BELOW[own] | {own}
    wrong = [
        f"{path.name}:{line} imports {module}"
        for line, module in _targets(path, root)
        if (target := _layer_of_module(module)) is not None and target not in allowed
    ]
    return wrong + [f"{path.name} {d} (a dynamic import)" for d in _dynamic(path)]


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.name != "__init__.py")


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_point_down(path: Path) -> None:
    assert violations(path) == []


def test_every_layer_exists() -> None:
    present = {_layer_of_path(p, PACKAGE) for p in _sources()}
    assert present == set(BELOW)


def test_the_root_package_imports_nothing_of_its_own() -> None:
    root = PACKAGE / "__init__.py"
    assert [m for _, m in _targets(root, PACKAGE) if m.startswith("gitflagger")] == []


FORBIDDEN = [
    ("decide/bad.py", "from gitflagger import engine\n"),
    ("decide/bad.py", "from gitflagger import model, engine\n"),
    ("decide/bad.py", "import gitflagger.engine.reconcile\n"),
    ("decide/bad.py", "from ..engine import reconcile\n"),
    ("decide/bad.py", "from .. import engine\n"),
    ("decide/sub/bad.py", "from ...render.yaml import dump\n"),
    ("decide/bad.py", "import importlib\nimportlib.import_module('gitflagger.engine')\n"),
    ("decide/bad.py", "from importlib import import_module\n"),
    ("decide/bad.py", "engine = __import__('gitflagger.engine')\n"),
    ("loadtester/bad.py", "from gitflagger.engine.reconcile import Context\n"),
    ("loadtester/bad.py", "from gitflagger.cli import main\n"),
    ("engine/bad.py", "from gitflagger.loadtester import cli\n"),
    ("errors.py", "from gitflagger.model import canary\n"),
    ("model/bad.py", "from gitflagger.errors import ValidationError\nfrom gitflagger.decide import Event\n"),
    ("render/bad.py", "from gitflagger.adapters.kube import cluster\n"),
    ("nowhere/bad.py", "x = 1\n"),
]
ALLOWED = [
    ("decide/ok.py", "from gitflagger.model import canary\nfrom gitflagger.errors import ValidationError\n"),
    ("decide/ok.py", "from . import messages\nfrom .events import Event\n"),
    ("decide/sub/ok.py", "from .. import messages\nfrom ...model import canary\n"),
    ("engine/ok.py", "from gitflagger import __version__\nimport importlib.metadata\n"),
    (
        "cli/ok.py",
        "from gitflagger.loadtester.cli import loadtester_command\nfrom gitflagger import engine\n",
    ),
    ("loadtester/ok.py", "from gitflagger.adapters.git import open_repository\n"),
]


def _write(root: Path, relative: str, source: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


@pytest.mark.parametrize(
    ("relative", "source"), FORBIDDEN, ids=[f"{r}: {s.splitlines()[-1]}" for r, s in FORBIDDEN]
)
def test_a_forbidden_import_fails(tmp_path: Path, relative: str, source: str) -> None:
    root = tmp_path / "gitflagger"
    assert violations(_write(root, relative, source), root) != []


@pytest.mark.parametrize(
    ("relative", "source"), ALLOWED, ids=[f"{r}: {s.splitlines()[0]}" for r, s in ALLOWED]
)
def test_an_allowed_import_passes(tmp_path: Path, relative: str, source: str) -> None:
    root = tmp_path / "gitflagger"
    assert violations(_write(root, relative, source), root) == []
