"""Child processes: exit status, bounded output, timeouts and shutdown end the whole group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gitflagger.loadtester.process import Processes, ProcessResult, ShuttingDown


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (PID 1 here may never reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_exit_status_and_combined_output() -> None:
    result = Processes().run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
    assert (result.exit_code, result.ok, result.describe()) == (3, False, "exit status 3")
    assert sorted(result.output.split()) == [b"err", b"out"]


def test_only_the_tail_of_a_long_output_is_kept() -> None:
    result = Processes(output_limit=10).run(["sh", "-c", "printf '%0100d' 7"], timeout=30)
    assert result.ok and result.truncated
    assert result.output == b"0000000007"
    assert result.text.startswith("[output truncated to the last 10 bytes]")


def test_timeout_kills_the_whole_process_group() -> None:
    result = Processes().run(["sh", "-c", "sleep 60 & echo $!; wait"], timeout=0.5)
    grandchild = int(result.output.split()[0])
    assert result.timed_out and not result.ok
    assert result.describe() == "timed out after 500ms"
    _eventually(lambda: not _alive(grandchild), "the background sleep to be killed")


def test_stop_all_ends_running_children_and_refuses_new_ones() -> None:
    processes = Processes()
    results: list[ProcessResult] = []
    worker = threading.Thread(target=lambda: results.append(processes.run(["sleep", "60"], timeout=120)))
    worker.start()
    _eventually(lambda: bool(processes.live_pids()), "sleep to start")

    processes.stop_all(grace=5)
    worker.join(30)

    assert [r.describe() for r in results] == ["killed by signal 15"]
    with pytest.raises(ShuttingDown):
        processes.run(["true"], timeout=5)
