"""``python -m tests.testbed up [--flux]|down|status|build``: run the testbed outside pytest.

``up`` builds what is missing, then starts a detached *supervisor* process that
starts every component in :data:`COMPONENTS` (in order), writes
``status.json`` and keeps them running until ``down`` sends it SIGTERM.
Everything lives in ``$GITFLAGGER_TESTBED_DIR`` (default
``~/.cache/gitflagger/testbed-run``): ``supervisor.pid``, ``supervisor.log``,
``status.json`` and one state directory per component.

To add a service, write a class with ``name``, ``start(ctx) -> info dict``,
``healthy()`` and ``stop()`` and append its factory to :data:`COMPONENTS`;
``ctx.cluster`` is the running :class:`~tests.testbed.cluster.Cluster`.
``up --flux`` also starts Flux's controllers (:data:`FLUX_COMPONENTS`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tests.testbed import components
from tests.testbed.cluster import TESTBED_DIR, Cluster, repo_root

UP_TIMEOUT = 300.0
DOWN_TIMEOUT = 60.0


@dataclass
class RunContext:
    """What components see while the supervisor starts them."""

    run_dir: Path
    cluster: Cluster | None = None
    info: dict[str, dict[str, str]] = field(default_factory=dict)

    def state_dir(self, component: str) -> Path:
        path = self.run_dir / component
        path.mkdir(parents=True, exist_ok=True)
        return path


class Component(Protocol):
    name: str

    def start(self, ctx: RunContext) -> dict[str, str]:
        """Start and wait until usable; return what ``status`` should show (URLs, paths)."""
        ...

    def healthy(self) -> bool: ...

    def stop(self) -> None: ...


class ClusterComponent:
    """The Kubernetes control plane; always first, later components can use ``ctx.cluster``."""

    name = "cluster"

    def __init__(self) -> None:
        self.cluster: Cluster | None = None

    def start(self, ctx: RunContext) -> dict[str, str]:
        self.cluster = Cluster(ctx.state_dir(self.name)).start()
        ctx.cluster = self.cluster
        return {
            "api_url": self.cluster.api_url,
            "kubeconfig": str(self.cluster.kubeconfig),
            "logs": str(self.cluster.logs_dir),
            "start_seconds": f"{self.cluster.start_seconds:.1f}",
        }

    def healthy(self) -> bool:
        return self.cluster is not None and self.cluster.running

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()


#: Started in this order by ``up``, stopped in reverse by ``down``.
COMPONENTS: list[Callable[[], Component]] = [
    ClusterComponent,
    components.MeshSimComponent,
    components.PrometheusComponent,
    components.GitServerComponent,
]


#: Appended by ``up --flux`` (the supervisor sees it as ``GITFLAGGER_TESTBED_FLUX=1``).
FLUX_COMPONENTS: list[Callable[[], Component]] = [components.FluxComponent]


def run_dir() -> Path:
    configured = os.environ.get("GITFLAGGER_TESTBED_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "gitflagger" / "testbed-run"


def _paths(base: Path) -> tuple[Path, Path, Path]:
    return base / "supervisor.pid", base / "status.json", base / "supervisor.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as dead.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _read_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {}


# ---- supervisor (the detached process) ------------------------------------------------------------
class _Shutdown(Exception):
    pass


def supervise(base: Path) -> int:
    pid_file, status_file, _ = _paths(base)
    base.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n")

    def on_signal(signum: int, _frame: object) -> None:
        raise _Shutdown(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ctx = RunContext(run_dir=base)
    started: list[Component] = []
    status: dict[str, Any] = {"state": "starting", "pid": os.getpid(), "started_at": time.time()}
    _write_json(status_file, status)
    factories = COMPONENTS + (FLUX_COMPONENTS if os.environ.get("GITFLAGGER_TESTBED_FLUX") == "1" else [])
    try:
        for factory in factories:
            component = factory()
            print(f"starting {component.name}", flush=True)
            started.append(component)
            ctx.info[component.name] = component.start(ctx)
            print(f"{component.name}: {ctx.info[component.name]}", flush=True)
        status.update(state="ready", components=ctx.info)
        _write_json(status_file, status)
        while True:
            unhealthy = [c.name for c in started if not c.healthy()]
            state = f"degraded: {', '.join(unhealthy)} not healthy" if unhealthy else "ready"
            if state != status["state"]:
                print(state, flush=True)
                status["state"] = state
                _write_json(status_file, status)
            time.sleep(2)
    except _Shutdown as why:
        print(f"{why}: stopping", flush=True)
        return 0
    except Exception as exc:
        status.update(state="failed", error=f"{type(exc).__name__}: {exc}")
        _write_json(status_file, status)
        print(status["error"], file=sys.stderr, flush=True)
        return 1
    finally:
        for component in reversed(started):
            with contextlib.suppress(Exception):
                component.stop()
        if status["state"] != "failed":
            status["state"] = "stopped"
            _write_json(status_file, status)
        pid_file.unlink(missing_ok=True)


# ---- commands -----------------------------------------------------------------------------------
def cmd_build(quiet: bool = False) -> int:
    """Run build.sh; its progress goes to stderr, the cache dir to stdout (unless ``quiet``)."""
    stdout = subprocess.DEVNULL if quiet else None
    return subprocess.run(["bash", str(TESTBED_DIR / "build.sh")], stdout=stdout).returncode


def cmd_up(base: Path, flux: bool = False) -> int:
    pid_file, status_file, log_file = _paths(base)
    if _read_pid(pid_file) is not None:
        print("testbed is already running")
        return cmd_status(base)
    if cmd_build(quiet=True) != 0:
        print("testbed: build failed", file=sys.stderr)
        return 1
    base.mkdir(parents=True, exist_ok=True)
    status_file.unlink(missing_ok=True)
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.testbed", "_supervise"],
            cwd=repo_root(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "GITFLAGGER_TESTBED_DIR": str(base),
                 "GITFLAGGER_TESTBED_FLUX": "1" if flux else "0"},
        )
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        state = _read_json(status_file).get("state", "")
        if state == "ready":
            return cmd_status(base)
        if state == "failed" or proc.poll() is not None:
            break
        time.sleep(0.3)
    else:
        print(f"testbed: not ready after {UP_TIMEOUT:.0f}s; stopping it", file=sys.stderr)
        cmd_down(base)
    print(f"testbed failed to start; last lines of {log_file}:", file=sys.stderr)
    print("\n".join(log_file.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
    return 1


def cmd_down(base: Path) -> int:
    pid_file = _paths(base)[0]
    pid = _read_pid(pid_file)
    if pid is None:
        print("testbed is not running")
        pid_file.unlink(missing_ok=True)
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        # Its children die with it (PR_SET_PDEATHSIG).
        print(f"supervisor {pid} did not stop in {DOWN_TIMEOUT:.0f}s; killing it", file=sys.stderr)
        os.kill(pid, signal.SIGKILL)
    pid_file.unlink(missing_ok=True)
    print("testbed stopped")
    return 0


def cmd_status(base: Path) -> int:
    pid_file, status_file, log_file = _paths(base)
    pid = _read_pid(pid_file)
    status = _read_json(status_file)
    if pid is None:
        print(f"testbed: not running (last state: {status.get('state', 'none')}; log: {log_file})")
        return 1
    uptime = time.time() - float(status.get("started_at", time.time()))
    print(f"testbed: {status.get('state', 'unknown')} (supervisor pid {pid}, up {uptime:.0f}s, dir {base})")
    for name, info in status.get("components", {}).items():
        print(f"  {name}: " + "  ".join(f"{k}={v}" for k, v in info.items()))
    kubeconfig = status.get("components", {}).get("cluster", {}).get("kubeconfig")
    if kubeconfig:
        print(f"\nkubeconfig: {kubeconfig}\n  export KUBECONFIG={kubeconfig}")
    return 0 if status.get("state") == "ready" else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description="The gitflagger testbed.")
    parser.add_argument("command", choices=["up", "down", "status", "build", "_supervise"])
    parser.add_argument("--flux", action="store_true",
                        help="up: also start Flux's source- and kustomize-controller")
    args = parser.parse_args(argv)
    if args.flux and args.command != "up":
        parser.error("--flux goes with up only")
    base = run_dir()
    commands: dict[str, Callable[[], int]] = {
        "up": lambda: cmd_up(base, args.flux),
        "down": lambda: cmd_down(base),
        "status": lambda: cmd_status(base),
        "build": cmd_build,
        "_supervise": lambda: supervise(base),
    }
    return commands[args.command]()


if __name__ == "__main__":
    sys.exit(main())
