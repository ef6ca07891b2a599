"""The durability tests' kill switch: off unless armed, exact when armed, strict about its settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = "from gitflagger import killswitch as k; k.check(); k.point('persisted'); print('alive')"


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GITFLAGGER_KILL")}
    command = [sys.executable, "-c", SCRIPT]
    return subprocess.run(command, env={**clean, **env}, capture_output=True, text=True, timeout=60)


def test_unset_it_does_nothing() -> None:
    assert run({}).stdout == "alive\n"


def test_armed_it_kills_the_process_with_sigkill_once(tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    armed.touch()
    env = {"GITFLAGGER_KILL_AT": "persisted", "GITFLAGGER_KILL_ARMED": str(armed)}
    assert run(env).returncode == -9 and not armed.exists()
    assert run(env).stdout == "alive\n"  # the file is gone: disarmed


def test_another_point_or_an_unknown_one_is_not_acted_on(tmp_path: Path) -> None:
    armed = tmp_path / "armed"
    armed.touch()
    assert run({"GITFLAGGER_KILL_AT": "pushed", "GITFLAGGER_KILL_ARMED": str(armed)}).stdout == "alive\n"
    refused = run({"GITFLAGGER_KILL_AT": "nowhere", "GITFLAGGER_KILL_ARMED": str(armed)})
    assert refused.returncode != 0 and "GITFLAGGER_KILL_AT='nowhere': not a kill point" in refused.stderr
    alone = run({"GITFLAGGER_KILL_AT": "pushed"})
    assert alone.returncode != 0 and "needs GITFLAGGER_KILL_ARMED" in alone.stderr
