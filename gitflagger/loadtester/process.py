"""Run one child process: no shell, a timeout, a bounded output, and a clean stop.

Every child starts in its own session, so on timeout or shutdown the whole process
group is killed: a load generator that forks helpers leaves nothing behind. Only the
tail of the output is kept, because a ``curl`` pointed at a large body or an ``hey``
left running for an hour must not grow the load tester's memory without bound.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from gitflagger.model.durations import format_go_seconds

OUTPUT_LIMIT = 64 * 1024


class ShuttingDown(RuntimeError):
    """The load tester is stopping and starts no new process (HTTP 503)."""


@dataclass(frozen=True)
class ProcessResult:
    """How a child ended. ``exit_code`` is negative when a signal killed it."""

    exit_code: int
    output: bytes
    timed_out: bool = False
    timeout: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    @property
    def text(self) -> str:
        """The output as text, with a note when its beginning was dropped."""
        text = self.output.decode("utf-8", errors="replace")
        return f"[output truncated to the last {len(self.output)} bytes]\n{text}" if self.truncated else text

    def describe(self) -> str:
        """One line for logs and error responses, e.g. ``exit status 22`` or ``timed out after 1h0m0s``."""
        if self.timed_out:
            return f"timed out after {format_go_seconds(self.timeout)}"
        if self.exit_code < 0:
            return f"killed by signal {-self.exit_code}"
        return f"exit status {self.exit_code}"


class Processes:
    """Starts children and remembers the live ones, so :meth:`stop_all` can end them."""

    def __init__(self, *, output_limit: int = OUTPUT_LIMIT) -> None:
        self._output_limit = output_limit
        self._lock = threading.Lock()
        self._live: set[subprocess.Popen[bytes]] = set()
        self._closed = False

    def run(
        self, argv: Sequence[str], *, timeout: float, started: Callable[[], None] | None = None
    ) -> ProcessResult:
        """Run ``argv`` (never through a shell) and wait for it, at most ``timeout`` seconds.

        ``started`` is called once the child exists, so a caller can count starts
        while a long load test is still running.
        """
        with self._lock:
            if self._closed:
                raise ShuttingDown("the load tester is shutting down")
            proc = subprocess.Popen(  # argv was checked by CommandPolicy; never a shell
                list(argv),
                shell=False,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,
            )
            self._live.add(proc)
        if started is not None:
            started()
        expired = threading.Event()

        def expire() -> None:
            if proc.poll() is None:  # not when it exited just as the timer fired
                expired.set()
                _signal_group(proc, signal.SIGKILL)

        timer = threading.Timer(timeout, expire)
        timer.daemon = True
        timer.start()
        try:
            assert proc.stdout is not None
            output, truncated = _read_tail(proc.stdout, self._output_limit)
            exit_code = proc.wait()
        finally:
            timer.cancel()
            if proc.stdout is not None:
                proc.stdout.close()
            with self._lock:
                self._live.discard(proc)
        return ProcessResult(exit_code, output, expired.is_set(), timeout, truncated)

    def live_pids(self) -> list[int]:
        with self._lock:
            return sorted(p.pid for p in self._live)

    def stop_all(self, *, grace: float) -> None:
        """Refuse new children, ask the live ones to stop, and kill what is left after ``grace``."""
        with self._lock:
            self._closed = True
            live = list(self._live)
        for proc in live:
            _signal_group(proc, signal.SIGTERM)
        for proc in live:
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal the child's whole process group (its pid is the group id: it leads a new session)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _read_tail(stream: IO[bytes], limit: int) -> tuple[bytes, bool]:
    """Read a stream to its end, keeping only its last ``limit`` bytes."""
    tail = bytearray()
    truncated = False
    while chunk := stream.read(8192):
        tail += chunk
        if len(tail) > limit:
            del tail[: len(tail) - limit]
            truncated = True
    return bytes(tail), truncated
