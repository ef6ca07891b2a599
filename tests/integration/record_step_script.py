"""A process that records one step to a remote and can be made to stop dead at a chosen point.

``python -m tests.integration.record_step_script URL CACHE PASSWORD_FILE STEP PAUSE IMAGE``

PAUSE is ``commit`` (the commit is in the cache, nothing pushed), ``push``
(pushed, before the caller would apply) or ``none``. At the pause it prints
``paused <point>`` and sleeps, so the test can kill it with SIGKILL there; it
prints ``done <commit or skip reason>`` when it runs to the end. IMAGE
changes the step's rendered output without changing its Step-Id, like a step
re-run a minute later whose time-dependent fields differ.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder
from tests.unit.record.steps import manifests, step


def main(url: str, cache: str, password_file: str, number: str, pause: str, image: str) -> None:
    remote = RemoteConfig(
        url, username="gitflagger", password_file=Path(password_file), allow_insecure_http=True
    )
    recorder = RemoteRecorder(remote, cache_root=Path(cache))
    result = recorder.record(step(int(number), weight=int(number) * 10, items=manifests(image)))
    if pause == "commit":
        _pause("commit")
    recorder.flush()
    if pause == "push":
        _pause("push")
    print(f"done {result.commit_id or result.skipped_reason}", flush=True)


def _pause(point: str) -> None:
    print(f"paused {point}", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:7])
