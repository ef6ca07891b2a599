"""The decision core and the model do no I/O and read no clock: checked on the source itself."""

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
    "time",
    "random",
}
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}
CLOCK_CALLS |= {("time", name) for name in ("time", "time_ns", "monotonic", "perf_counter")}
PURE_PARTS = {"urllib.parse": None, "os": {"PathLike"}}
"""Pure corners of denied packages: URL string parsing, and the ``PathLike`` typing protocol."""
SOURCES = sorted([*PACKAGE.glob("decide/*.py"), *PACKAGE.glob("model/*.py")])


def _ids(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def test_there_is_something_to_scan() -> None:
    assert {p.parent.name for p in SOURCES} == {"decide", "model"}
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
    return sorted(f"{m}:{n}" for m, n in imported if m.split(".")[0] in DENIED and not _pure(m, n))


def test_the_scan_would_catch_an_io_import() -> None:
    source = "import os\nfrom urllib.request import urlopen\nfrom os import PathLike\nimport urllib.parse\n"
    assert _denied_imports(source) == ["os:None", "urllib.request:urlopen"]


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
