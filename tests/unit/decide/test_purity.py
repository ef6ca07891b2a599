"""The decision core, the model and the renderer do no I/O and read no clock: checked on the source.

No file access either: ``pathlib``, ``os`` and the ``open`` builtin are refused,
so reading a file belongs to an adapter (``gitflagger.adapters.files``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "gitflagger"
DENIED = {
    "kubernetes",
    "pygit2",
    "requests",
    "socket",
    "subprocess",
    "urllib",
    "http",
    "os",
    "pathlib",
    "shutil",
    "tempfile",
    "time",
    "random",
}
BUILTINS = {"open", "input", "print", "exec", "eval"}
"""Builtins that reach a file or the terminal, or run code."""
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
CLOCK_CALLS |= {("time", name) for name in ("time", "time_ns", "monotonic", "perf_counter")}
PURE_PARTS: dict[str, set[str] | None] = {"urllib.parse": None}
"""Pure corners of denied packages: URL string parsing."""
PURE_LAYERS = ("decide", "model", "render")
SOURCES = sorted(p for layer in PURE_LAYERS for p in PACKAGE.glob(f"{layer}/**/*.py"))


def _ids(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_there_is_something_to_scan() -> None:
    assert {p.relative_to(PACKAGE).parts[0] for p in SOURCES} == set(PURE_LAYERS)
    assert any(p.name == "machine.py" for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=_ids)
def test_no_io_imports(path: Path) -> None:
    assert _denied_imports(path.read_text()) == []


def _denied_imports(source: str) -> list[str]:
    imported: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported += [(node.module, alias.name) for alias in node.names]
    denied = [f"{m}:{n}" for m, n in imported if m.split(".")[0] in DENIED and not _pure(m, n)]
    calls = [
        f"{node.func.id}()"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BUILTINS
    ]
    return sorted(denied + calls)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import os\n", ["os:None"]),
        ("from os import PathLike\n", ["os:PathLike"]),
        ("from pathlib import Path\n", ["pathlib:Path"]),
        ("import pathlib\n", ["pathlib:None"]),
        ("from urllib.request import urlopen\nimport urllib.parse\n", ["urllib.request:urlopen"]),
        ("text = open('canary.yaml').read()\n", ["open()"]),
        ("import shutil\n", ["shutil:None"]),
    ],
)
def test_the_scan_would_catch_an_io_import(tmp_path: Path, source: str, found: list[str]) -> None:
    """Written into a module under ``render/`` the way a real one would sit there."""
    module = tmp_path / "gitflagger" / "render" / "bad.py"
    module.parent.mkdir(parents=True)
    module.write_text(source)
    assert _denied_imports(module.read_text()) == found


def _pure(module: str, name: str | None) -> bool:
    if module not in PURE_PARTS:
        return False
    allowed = PURE_PARTS[module]
    return allowed is None or name in allowed


@pytest.mark.parametrize("path", SOURCES, ids=_ids)
def test_no_clock_reads(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    reads = [
        f"line {node.lineno}: {_dotted(node)}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and (_last_name(node.value), node.attr) in CLOCK_CALLS
    ]
    assert reads == []


def _last_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _dotted(node: ast.Attribute) -> str:
    return f"{_last_name(node.value)}.{node.attr}"


def test_the_scan_would_catch_a_clock_read() -> None:
    tree = ast.parse("import datetime\nx = datetime.datetime.now()\ny = time.time()\n")
    found = {
        (_last_name(n.value), n.attr)
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and (_last_name(n.value), n.attr) in CLOCK_CALLS
    }
    assert found == {("datetime", "now"), ("time", "time")}
