"""Item 6, side by side with Flagger: build Flagger's controller here, then compare on the testbed.

Build: a throwaway Go module under ``~/.cache/gitflagger/bench/flagger``
(never committed) requires ``github.com/fluxcd/flagger`` at :data:`VERSION`
from the Go module proxy and builds ``./cmd/flagger`` with ``GOTOOLCHAIN=local``,
``GOFLAGS=-mod=mod`` and ``CGO_ENABLED=0``. The binary is cached; a failed
build is a row whose notes carry the exact reason (the last lines of ``go``'s
output).

Run: :func:`run_flagger` runs the binary on the scenario of
:mod:`tests.bench.controller_scale` (same testbed, same N Canaries in a fresh
namespace, after gitflagger's run has stopped and its namespace is gone) and
measures CPU-seconds and RSS of the Flagger process over the same kind of
window. Flagger's API requests are not counted: there is no counting proxy in
front of the apiserver, and client-go's own counters are not readable from
outside. Ratios are gitflagger/Flagger against gitflagger's figures from the
same bench run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench import controller_scale
from tests.bench.harness import CACHE, Row, ratio

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


def run_flagger(scenario: controller_scale.Scenario, n: int, work: Path) -> controller_scale.Measured:
    """Flagger on the same N Canaries in a fresh namespace, after gitflagger has stopped.

    Steps: when every release finished, N × 8 (the steps gitflagger commits for one release);
    otherwise the Normal Canary Events first seen inside the window (an undercount);
    API requests are not counted: Flagger's client-go has no client-side counter we can read
    and there is no counting proxy yet.
    """
    from datetime import datetime

    ns = f"fl-{n}"
    scenario.namespace(ns, n)
    args = [str(BINARY), "-kubeconfig", str(scenario.cluster.kubeconfig), "-mesh-provider", "istio",
            "-metrics-server", "http://127.0.0.1:9", "-namespace", ns, "-enable-leader-election=false",
            "-log-level", "info", "-port", "0"]
    with (work / "flagger.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, t0, t1 = controller_scale.measure(scenario, ns, n, "Flagger", proc.pid,
                                               lambda: proc.poll() is None, lambda: None)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        events = scenario.canary_events(ns)
        scenario.drop_namespace(ns)
    steps = 0
    for event in events:
        stamp = event.get("firstTimestamp") or event.get("eventTime")
        if not stamp:
            continue
        when = datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
        if t0 - 1 <= when <= t1 + 1 and event.get("type") == "Normal":
            steps += 1
    if out.succeeded == n:
        # Every release completed: the steps are known (the same ones gitflagger commits). The Events
        # undercount: the count varied 362..703 between runs for the same 100 releases (client-go's
        # event broadcaster is asynchronous and loses what is queued when the process stops).
        out.steps = n * controller_scale.STEPS_PER_RELEASE
        out.notes.append(f"steps = {n} releases × {controller_scale.STEPS_PER_RELEASE} (all Succeeded); "
                         f"{steps} Normal Canary Events seen in the window")
    else:
        out.steps = steps
        out.notes.append("steps = Normal Canary Events first seen in the window (not every release finished)")
    return out


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
    if quick or not result.ok:
        rows.append(Row("gitflagger/Flagger ratios", None, "",
                        notes="not in --quick" if quick else "no Flagger binary"))
        return rows
    ok, why = controller_scale.runnable()
    if not ok:
        rows.append(Row("gitflagger/Flagger ratios", None, "", notes=f"not runnable: {why}"))
        return rows
    work = controller_scale.WORKDIR / ("flagger-" + time.strftime("%Y%m%d-%H%M%S"))
    work.mkdir(parents=True, exist_ok=True)
    scenario = controller_scale.shared_scenario(work)
    for n in controller_scale.FULL_N:
        try:
            fl = run_flagger(scenario, n, work)
        except Exception as err:
            rows.append(Row(f"Flagger N={n}", None, "", notes="error",
                            error=f"{type(err).__name__}: {err}"))
            continue
        rows += controller_scale.rows_for(
            fl, f"flagger {VERSION} -mesh-provider istio -namespace fl-{n} (own process, defaults: qps 100, "
                "burst 250), same Canaries, run after gitflagger stopped; API requests not counted "
                "(no counting proxy; client-go exposes no counter we can read from outside)")
        gf = controller_scale._LAST.get(n)
        if gf is None:
            rows.append(Row(f"gitflagger/Flagger N={n}", None, "", notes="no gitflagger run to compare"))
            continue
        gcpu = gf.cpu / gf.steps if gf.steps else None
        fcpu = fl.cpu / fl.steps if fl.steps else None
        rows.append(Row(f"gitflagger/Flagger N={n}: CPU-seconds per step", gcpu, "CPU-s/step", baseline=fcpu,
                        ratio=ratio(gcpu, fcpu),
                        notes=f"gitflagger {gf.cpu:.2f} CPU-s / {gf.steps} commits vs Flagger "
                              f"{fl.cpu:.2f} CPU-s / {fl.steps} steps "
                              "(see the Flagger rows for how each was counted)"))
        same = "the same work" if gf.succeeded == fl.succeeded == n else "NOT the same work"
        rows.append(Row(f"gitflagger/Flagger N={n}: CPU-seconds over the window", gf.cpu, "CPU-s",
                        baseline=fl.cpu, ratio=ratio(gf.cpu, fl.cpu),
                        notes=f"{same}: gitflagger {gf.steps} steps, {gf.succeeded}/{n} Succeeded in "
                              f"{gf.seconds:.0f} s; Flagger {fl.steps} steps, {fl.succeeded}/{n} Succeeded "
                              f"in {fl.seconds:.0f} s"))
        rows.append(Row(f"gitflagger/Flagger N={n}: RSS", gf.rss_mb, "MB", baseline=fl.rss_mb,
                        ratio=ratio(gf.rss_mb, fl.rss_mb),
                        notes="VmRSS at each window's end"))
        rows.append(Row(f"gitflagger/Flagger N={n}: API requests per step", None, "",
                        notes="not measured for Flagger: no counting proxy between Flagger "
                              "and the apiserver"))
    return rows
