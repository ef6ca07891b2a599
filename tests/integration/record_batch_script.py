"""A process that records a batch of steps to a remote and can be made to stop dead at its boundary.

``python -m tests.integration.record_batch_script URL CACHE PASSWORD_FILE STEP PAUSE``

Two Canaries (``test/podinfo`` and ``test/frontend``) each record step STEP
in one batch, as a controller pass does: ``begin()``, the records,
``persist()``, ``flush()``. PAUSE is ``recorded`` (both steps recorded, the
batch still in memory), ``persisted`` (the batch durable in the cache, where
the controller would start applying) or ``none``. At the pause it prints
``paused <point>`` and sleeps, so the test can SIGKILL it there; at the end it
prints ``done`` and each step's commit or skip reason.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder
from tests.unit.record.steps import podinfo, step

CANARIES = ("podinfo", "frontend")


def main(url: str, cache: str, password_file: str, number: str, pause: str) -> None:
    remote = RemoteConfig(
        url, username="gitflagger", password_file=Path(password_file), allow_insecure_http=True
    )
    recorder = RemoteRecorder(remote, cache_root=Path(cache))
    recorder.begin()
    n = int(number)
    results = [recorder.record(step(n, canary=podinfo(name), weight=n * 10)) for name in CANARIES]
    if pause == "recorded":
        _pause("recorded")
    persisted = recorder.persist()
    if pause == "persisted":
        _pause("persisted")
    recorder.flush()
    said = [persisted.final(r.commit_id) or str(r.skipped_reason) for r in results]
    print("done " + " ".join(said), flush=True)


def _pause(point: str) -> None:
    print(f"paused {point}", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main(*sys.argv[1:6])
