"""Tasks: what a webhook asked to run, and the runner that runs it.

Flagger calls a ``rollout`` webhook on every analysis interval, but a load test such
as ``hey -z 1m`` should run once per canary and keep running across intervals. So,
like Flagger's task runner, a background task is keyed by canary and command text:
while one runs, the same request for the same canary is answered without starting a
second one. Flagger does this with a 100 ms polling loop over a to-do map; here the
request thread starts the task directly, which is simpler and starts it sooner.

Blocking tasks (``type: bash``, the helm and kubectl types, and ``cmd`` with our
``blocking: "true"`` extension) run in the request thread and are never deduplicated:
the caller waits for and needs each result.

Both kinds count against one cap, ``max_tasks``: without it, N distinct requests
started N processes. A repeat of a running background task is still "already
running", not refused.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from gitflagger.loadtester.logs import EventLog
from gitflagger.loadtester.metrics import LoadTesterMetrics
from gitflagger.loadtester.process import Processes, ProcessResult


class TooManyTasks(RuntimeError):
    """``max_tasks`` tasks are running; this one was not started (HTTP 429)."""


@dataclass(frozen=True)
class Task:
    """One checked command for one canary. ``argv`` is what executes; ``command`` is what was asked."""

    kind: str
    canary: str
    command: str
    argv: tuple[str, ...]
    log_output: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """Flagger's task identity: the canary and the command text."""
        return (self.canary, self.command)


class TaskRunner:
    """Runs tasks in the background (deduplicated) or in the caller's thread."""

    def __init__(
        self, *, processes: Processes, metrics: LoadTesterMetrics, log: EventLog, timeout: float,
        max_tasks: int = 16,
    ) -> None:
        self.timeout = timeout
        self.max_tasks = max_tasks
        self._blocking = 0
        self._processes = processes
        self._metrics = metrics
        self._log = log
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], threading.Thread] = {}

    def start(self, task: Task) -> bool:
        """Start ``task`` in the background; False (and nothing started) if it is already running."""
        with self._lock:
            if task.key in self._running:
                self._metrics.tasks_skipped.inc()
                self._log.info("command skipped: already running", canary=task.canary, command=task.command)
                return False
            self._claim(task)
            thread = threading.Thread(
                target=self._run_background, args=(task,), name=f"task {task.canary}", daemon=True
            )
            self._running[task.key] = thread
            self._metrics.tasks_running.inc()
        thread.start()
        return True

    def run(self, task: Task) -> ProcessResult:
        """Run ``task`` now, if under the cap, and return how it ended.

        Raises ``TooManyTasks`` at the cap and ``ShuttingDown`` during shutdown.
        """
        with self._lock:
            self._claim(task)
            self._blocking += 1
        try:
            return self._run(task)
        finally:
            with self._lock:
                self._blocking -= 1

    def _claim(self, task: Task) -> None:
        """Refuse ``task`` when the cap is reached (call with the lock held)."""
        if len(self._running) + self._blocking >= self.max_tasks:
            self._log.warning("command refused: too many tasks", canary=task.canary, command=task.command,
                              max_tasks=self.max_tasks)
            raise TooManyTasks(
                f"{self.max_tasks} tasks are running, the most this load tester runs at once "
                "(--max-tasks); try again later"
            )

    def _run(self, task: Task) -> ProcessResult:
        self._log.info("command starting", canary=task.canary, type=task.kind, command=task.command)
        result = self._processes.run(
            task.argv, timeout=self.timeout, started=self._metrics.tasks_started.labels(task.kind).inc
        )
        if not result.ok:
            self._metrics.tasks_failed.labels(task.kind).inc()
            self._log.error(
                "command failed", canary=task.canary, type=task.kind, command=task.command,
                reason=result.describe(), output=result.text,
            )
        else:
            fields: dict[str, object] = {"output": result.text} if task.log_output else {}
            self._log.info(
                "command finished", canary=task.canary, type=task.kind, command=task.command, **fields
            )
        return result

    def running(self) -> list[tuple[str, str]]:
        """The (canary, command) keys of background tasks running now."""
        with self._lock:
            return sorted(self._running)

    def join(self, *, timeout: float) -> None:
        """Wait for background threads to finish (after their processes were stopped)."""
        with self._lock:
            threads: Sequence[threading.Thread] = list(self._running.values())
        for thread in threads:
            thread.join(timeout)

    def _run_background(self, task: Task) -> None:
        try:
            self._run(task)
        except Exception as err:  # a failed start must still free the key and be logged
            self._metrics.tasks_failed.labels(task.kind).inc()
            self._log.error(
                "command could not start", canary=task.canary, command=task.command, error=str(err)
            )
        finally:
            with self._lock:
                self._running.pop(task.key, None)
                self._metrics.tasks_running.dec()
