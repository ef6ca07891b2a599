"""Item 6, side by side with Flagger: build Flagger's controller here, then compare on the testbed.

Build: a throwaway Go module under ``~/.cache/gitflagger/bench/flagger``
(never committed) requires ``github.com/fluxcd/flagger`` at :data:`VERSION`
from the Go module proxy and builds ``./cmd/flagger`` with ``GOTOOLCHAIN=local``,
``GOFLAGS=-mod=mod`` and ``CGO_ENABLED=0``. The binary is cached; a failed
build is a row whose notes carry the exact reason (the last lines of ``go``'s
output).

Run: :func:`run_flagger` runs the binary on the scenario of
:mod:`tests.bench.controller_scale` (same testbed, same N Canaries at the same
interval in a fresh namespace, after gitflagger's runs have stopped) and
measures it exactly as gitflagger is measured: steps from the Canary status
transitions an admin watch sees, API requests from the kube-apiserver audit
log (each controller has its own ServiceAccount), CPU-seconds and RSS from
``/proc``, over the same fixed window. N=100 always runs; larger N when
gitflagger ran at that N and the budget allows. Ratios are gitflagger/Flagger
against gitflagger's figures from the same bench run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.bench import controller_scale
from tests.bench.harness import CACHE, Row, ratio, remaining

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


def run_flagger(scenario: controller_scale.Scenario, plan: controller_scale.Plan,
                work: Path) -> controller_scale.Measured:
    """Flagger on the same N Canaries in a fresh namespace, after gitflagger has stopped, measured the
    same way (:func:`tests.bench.controller_scale.measure`): steps are the Canary status transitions
    an admin watch sees, API requests come from the audit log (its own ServiceAccount)."""
    ns = f"fl-{plan.n}"
    kubeconfig, user = scenario.identity("flagger")
    created = time.monotonic()
    scenario.namespace(ns, plan)
    watch = controller_scale.CanaryWatch(scenario.http, scenario.api, ns)
    args = [str(BINARY), "-kubeconfig", str(kubeconfig), "-mesh-provider", "istio",
            "-metrics-server", "http://127.0.0.1:9", "-namespace", ns, "-enable-leader-election=false",
            "-kubeconfig-qps", controller_scale.QPS, "-kubeconfig-burst", controller_scale.BURST,
            "-log-level", "info", "-port", "0"]
    try:
        with controller_scale.controller_process(args, work / f"flagger-{plan.n}.log") as proc:
            out, _, _ = controller_scale.measure(scenario, ns, plan, "Flagger", user, proc.pid,
                                                 lambda: proc.poll() is None, lambda: None, watch)
    finally:
        watch.stop()
    out.phases_timing["total_with_create"] = time.monotonic() - created
    controller_scale.dump(out, watch, work / f"flagger-{plan.n}.json")
    return out


HOW = (f"flagger {VERSION} -mesh-provider istio (own process and ServiceAccount, -kubeconfig-qps "
       f"{controller_scale.QPS} -kubeconfig-burst {controller_scale.BURST}: its defaults), same Canaries, "
       "run after gitflagger's runs stopped")


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
    for i, plan in enumerate(controller_scale.PLAN):
        left = remaining()
        if i > 0 and (plan.n not in controller_scale._LAST
                      or (left is not None and left < plan.estimate())):
            why = ("no gitflagger figures at this N to compare with" if plan.n not in controller_scale._LAST
                   else f"the bench budget has {left:.0f} s left, this run needs about "
                        f"{plan.estimate():.0f} s")
            rows.append(Row(f"Flagger N={plan.n} @{plan.interval}s", None, "", notes=f"not run: {why}"))
            continue
        try:
            fl = run_flagger(scenario, plan, work)
        except Exception as err:
            rows.append(Row(f"Flagger N={plan.n}", None, "", notes="error",
                            error=f"{type(err).__name__}: {err}"))
            continue
        rows += controller_scale.rows_for(fl, HOW)
        rows += ratio_rows(controller_scale._LAST.get(plan.n), fl)
    return rows


def ratio_rows(gf: controller_scale.Measured | None, fl: controller_scale.Measured) -> list[Row]:
    n = fl.plan.n
    label = f"gitflagger/Flagger N={n} @{fl.plan.interval}s"
    if gf is None or fl.cut:
        return [Row(label, None, "", notes="no gitflagger run to compare" if gf is None
                    else f"Flagger's run was cut short: {fl.cut}")]

    def per(x: float | None, m: controller_scale.Measured) -> float | None:
        return None if x is None or not m.steps else x / m.steps

    same = (f"gitflagger {gf.steps} steps in {gf.seconds:.0f} s, Flagger {fl.steps} steps in "
            f"{fl.seconds:.0f} s (offered {n / fl.plan.interval * fl.seconds:.0f})")
    early = [who for who, m in (("gitflagger", gf), ("Flagger", fl))
             if any("not every Canary Progressing" in note for note in m.notes)]
    if early:
        same = (f"NOT comparable: {' and '.join(early)}'s window opened before every Canary was "
                f"Progressing (see its steps row); {same}")
    warn = "NOT comparable (see the CPU row); " if early else ""
    gcpu, fcpu = per(gf.cpu, gf), per(fl.cpu, fl)
    greq, freq = per(_f(gf.requests_audit), gf), per(_f(fl.requests_audit), fl)
    gcli = per(_f(gf.requests_client), gf)
    return [
        Row(f"{label}: CPU-seconds per step", gcpu, "CPU-s/step", baseline=fcpu, ratio=ratio(gcpu, fcpu),
            notes=f"gitflagger {gf.cpu:.2f} CPU-s vs Flagger {fl.cpu:.2f} CPU-s over the window; {same}"),
        Row(f"{label}: API requests per step (audit)", greq, "req/step", baseline=freq,
            ratio=ratio(greq, freq),
            notes=warn + "both counted in the kube-apiserver audit log by ServiceAccount: gitflagger "
                  f"{gf.requests_audit}, Flagger {fl.requests_audit} requests"
                  + (f"; gitflagger's own client count: {gcli:.2f} req/step" if gcli is not None else "")),
        Row(f"{label}: RSS", gf.rss_mb, "MB", baseline=fl.rss_mb, ratio=ratio(gf.rss_mb, fl.rss_mb),
            notes=warn + f"VmRSS at each window's end (peaks: gitflagger {gf.peak_mb:.0f} MB, Flagger "
                  f"{fl.peak_mb:.0f} MB)"),
    ]


def _f(x: int | None) -> float | None:
    return None if x is None else float(x)
