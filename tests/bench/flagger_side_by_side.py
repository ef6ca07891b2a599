"""Item 6, side by side with Flagger: build Flagger's controller here, then compare on the testbed.

Build: a throwaway Go module under ``~/.cache/gitflagger/bench/flagger``
(never committed) requires ``github.com/fluxcd/flagger`` at :data:`VERSION`
from the Go module proxy and builds ``./cmd/flagger`` with ``GOTOOLCHAIN=local``,
``GOFLAGS=-mod=mod`` and ``CGO_ENABLED=0``. The binary is cached; a failed
build is a row whose notes carry the exact reason (the last lines of ``go``'s
output).

Run: comparing the two controllers needs :mod:`tests.bench.controller_scale`
(the same N Istio Canaries on the testbed, once per controller). While that
cannot run, the comparison row says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass

from tests.bench import controller_scale
from tests.bench.harness import CACHE, Row

MODULE = "github.com/fluxcd/flagger"
VERSION = "v1.44.0"
WORKDIR = CACHE / "flagger"
BINARY = WORKDIR / "bin" / "flagger"
BUILD_TIMEOUT = 1_200

_GO_MOD = f"""module gitflagger.bench/flagger

go 1.26.0

require {MODULE} {VERSION}
"""
_TOOLS_GO = f"""//go:build tools

package tools

import _ "{MODULE}/cmd/flagger"
"""


@dataclass(frozen=True)
class Build:
    ok: bool
    seconds: float | None
    cached: bool
    reason: str = ""
    version_output: str = ""


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}


def _tail(text: str, lines: int = 4) -> str:
    kept = [line for line in text.strip().splitlines() if not line.startswith("go: downloading")]
    return " | ".join(kept[-lines:]) or "(no output)"


def build(allow_build: bool) -> Build:
    """The Flagger binary: cached, or built now when ``allow_build``; never raises."""
    if BINARY.exists():
        return Build(True, None, True, version_output=_version())
    if not allow_build:
        return Build(False, None, False, "not built yet (--quick does not build; run make bench once)")
    go = shutil.which("go")
    if go is None:
        reason = "no go binary on PATH (the testbed build fetches one: make testbed-build)"
        return Build(False, None, False, reason)
    WORKDIR.mkdir(parents=True, exist_ok=True)
    (WORKDIR / "go.mod").write_text(_GO_MOD)
    (WORKDIR / "tools.go").write_text(_TOOLS_GO)
    start = time.monotonic()
    steps = (
        [go, "mod", "download", "-json", f"{MODULE}@{VERSION}"],
        [go, "build", "-o", str(BINARY), f"{MODULE}/cmd/flagger"],
    )
    for cmd in steps:
        try:
            proc = subprocess.run(cmd, cwd=WORKDIR, env=_go_env(), capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return Build(False, time.monotonic() - start, False, f"{' '.join(cmd[1:3])}: timed out")
        (WORKDIR / "build.log").write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            return Build(False, time.monotonic() - start, False,
                         f"{' '.join(cmd[1:3])} exited {proc.returncode}: {_tail(proc.stderr)}")
    return Build(True, time.monotonic() - start, False, version_output=_version())


def _version() -> str:
    try:
        proc = subprocess.run(
            [str(BINARY), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"cannot run: {err}"
    return (proc.stdout + proc.stderr).strip().splitlines()[0] if (proc.stdout + proc.stderr).strip() else ""


def run(quick: bool) -> list[Row]:
    result = build(allow_build=not quick)
    size = BINARY.stat().st_size / 1e6 if result.ok and BINARY.exists() else None
    if result.ok:
        how = "cached build" if result.cached else f"built in {result.seconds:.0f} s"
        notes = (f"{MODULE}@{VERSION} ./cmd/flagger from the Go module proxy, CGO_ENABLED=0, "
                 f"GOTOOLCHAIN=local; {how}; -version says {result.version_output!r}; binary kept in the "
                 f"bench cache, never committed")
    else:
        notes = f"cannot build Flagger here: {result.reason}"
    rows = [Row(f"Flagger {VERSION} controller binary", size, "MB", notes=notes, met=None)]
    _, why = controller_scale.runnable()
    rows.append(Row("gitflagger/Flagger ratios (CPU-s per step, API requests per step, RSS)", None, "",
                    notes=f"not yet runnable: {why}"))
    return rows
