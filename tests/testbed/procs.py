"""Child processes of the testbed: started in their own process group, logged
to a file, and always stopped, on ``stop()``, at interpreter exit and on
SIGTERM/SIGINT.

Every :class:`Proc` that is running is kept in a module-level registry. The
first start installs an ``atexit`` hook and SIGTERM/SIGINT handlers (when
called from the main thread) that stop every registered process group and
then hand the signal on to whatever handler was there before. Children started
from the main thread also get ``PR_SET_PDEATHSIG`` so even a SIGKILLed test
run leaves nothing behind.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

__all__ = ["ComponentError", "Proc", "free_ports", "port_is_free", "stop_all"]


class ComponentError(RuntimeError):
    """A testbed component failed to start or died; the message names it and quotes its log."""

    def __init__(self, component: str, problem: str, log_path: Path | None = None, tail: str = "") -> None:
        message = f"testbed component {component!r}: {problem}"
        if log_path is not None:
            message += f"\n--- last lines of {log_path} ---\n{tail}"
        super().__init__(message)
        self.component = component


_registry: list[Proc] = []
_registry_lock = threading.RLock()
_hooks_installed = False
_previous_handlers: dict[int, Callable[[int, FrameType | None], object] | int | None] = {}
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl: Callable[..., int] = libc.prctl
        return prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Proc:
    """One long-running component process with its own process group and log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen is not None else None

    def start(self) -> None:
        if self.running():
            return
        _install_hooks()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        in_main = threading.current_thread() is threading.main_thread()
        with open(self.log_path, "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(f"\n=== {stamp} starting {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    cwd=self.cwd,
                    start_new_session=True,
                    # PDEATHSIG fires when the *thread* that forked exits, so only use it from the
                    # main thread; a restart from a helper thread must outlive that thread.
                    preexec_fn=_die_with_parent if in_main else None,
                )
            except OSError as exc:
                raise ComponentError(self.name, f"cannot execute {self.argv[0]}: {exc}") from exc
        with _registry_lock:
            _registry.append(self)

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def check(self) -> None:
        """Raise :class:`ComponentError` if the process was started and has exited."""
        if self._popen is not None and self._popen.poll() is not None:
            raise ComponentError(
                self.name, f"exited with code {self._popen.returncode}", self.log_path, self.log_tail()
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 64 * 1024))
                data = f.read().decode(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(data.splitlines()[-lines:])

    def signal_group(self, sig: int) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._popen.pid, sig)

    def wait(self, timeout: float) -> bool:
        if self._popen is None:
            return True
        try:
            self._popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole process group, SIGKILL it after ``timeout`` seconds."""
        stop_procs([self], timeout)


def stop_procs(procs: Sequence[Proc], timeout: float = 15.0) -> None:
    """Stop several processes concurrently (SIGTERM all, wait, SIGKILL stragglers)."""
    started = [p for p in procs if p._popen is not None]
    for p in started:
        p.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in started:
        if not p.wait(max(0.0, deadline - time.monotonic())):
            p.signal_group(signal.SIGKILL)
            p.wait(10.0)
        # Whatever else is left in the group (there should be nothing) goes too.
        p.signal_group(signal.SIGKILL)
    with _registry_lock:
        for p in started:
            with contextlib.suppress(ValueError):
                _registry.remove(p)
            p._popen = None


def stop_all() -> None:
    """Stop every testbed process this interpreter started, newest first."""
    with _registry_lock:
        procs = list(reversed(_registry))
    # One by one, newest first: a server stops quickly only while what it depends on still runs
    # (kube-apiserver waits out its whole grace period if etcd is already gone).
    for proc in procs:
        stop_procs([proc], timeout=10.0)


def _on_signal(signum: int, frame: FrameType | None) -> None:
    stop_all()
    previous = _previous_handlers.get(signum)
    if callable(previous):
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(stop_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        _previous_handlers[sig] = signal.getsignal(sig)
        signal.signal(sig, _on_signal)


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago.

    A port is probed here and bound later by the component, so another process may take it in
    between. Under pytest-xdist (``PYTEST_XDIST_WORKER=gwN``) several test sessions start servers at
    once, so each worker takes its ports from a slice of its own below the kernel's ephemeral range:
    no other worker probes them, and no outgoing connection's local port lands on one. Outside
    xdist (or past the slices) the kernel picks, as before.
    """
    worker = _xdist_worker()
    if worker is not None:
        low = WORKER_PORT_BASE + worker * WORKER_PORT_SLICE
        high = low + WORKER_PORT_SLICE
        if high <= _ephemeral_low():
            return _ports_in(low, high, count)
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


WORKER_PORT_BASE = 12000
WORKER_PORT_SLICE = 1500
_port_cursor: dict[int, int] = {}
_port_lock = threading.Lock()


def _xdist_worker() -> int | None:
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else None


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _ports_in(low: int, high: int, count: int) -> list[int]:
    """The next ``count`` bindable ports of [low, high), going round; never the same one twice in a
    row of ``high - low`` calls, so a port handed out and not yet bound is not handed out again."""
    ports: list[int] = []
    with _port_lock:
        cursor = _port_cursor.setdefault(low, low + os.getpid() % (high - low))
        for _ in range(high - low):
            port = low + (cursor - low) % (high - low)
            cursor = port + 1
            if port_is_free(port):
                ports.append(port)
                if len(ports) == count:
                    break
        _port_cursor[low] = cursor
    if len(ports) < count:
        raise ComponentError("testbed", f"no {count} free ports in {low}-{high - 1}")
    return ports


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port`` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
