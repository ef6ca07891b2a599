"""Keep a config repo fast at 100k+ commits: pack loose objects, pack refs, write a commit-graph.

libgit2 writes every object loose, and a step writes about seven (a commit,
four or five trees, one or two blobs), so a busy controller leaves hundreds of
thousands of small files behind. Reading a commit from a pack is cheaper than
from a loose file, and the git CLI (which people use to review the repo)
slows down with them too. So, at the end of a pass, when the loose objects
are estimated to exceed a threshold (the way ``git gc --auto`` estimates:
count one of the 256 fan-out directories), the recorder runs the git CLI:

* ``git repack -d``: loose objects into a new pack (``--geometric=2`` once packs pile up: a
  batching recorder writes one pack per pass, see :mod:`~gitflagger.adapters.git.pack`);
* ``git pack-refs --all``: one file for the per-canary index refs;
* ``git commit-graph write --reachable --changed-paths --split``: a
  commit-graph with changed-path Bloom filters, so that ``git log -- <dir>``
  (how people review one Canary) skips commits that did not touch it.
  ``--split`` only adds the new commits, so the cost follows the new commits.

Off the step path: a repack of a few thousand loose objects takes a good part
of a second, and running it inside :meth:`flush` stalled every step behind it
(a benchmark pass paid it every ~250 steps). So the recorders only *poke* a
:class:`BackgroundMaintenance` at the end of a pass, which never blocks: when
the estimate is over the threshold, no run is in progress and the last run
started at least ``min_interval`` seconds ago (default one minute), it starts
:func:`maintain` in a daemon thread and returns. The thread waits on git
subprocesses, so it holds the GIL only for microseconds; the rate limit keeps
it from taking a core of a busy controller (loose objects then pile up to one
minute's worth, e.g. ~8,000 at 1,000 Canaries stepping once a minute, which
git folds into a pack in about a second). Running next to the recorder is safe
because git is built for it: ``repack -d`` deletes only loose objects it has
packed (libgit2 finds them in the new pack on its next lookup), ``pack-refs``
takes each ref's lock and skips refs that moved (a recorder that meets the
lock retries its compare-and-swap), and the commit-graph files are replaced
by renames. Commit-graph maintenance runs after every repack, as before.

gitflagger's own history reading does not need any of this (it follows the
``Previous-Step`` chain, see :mod:`gitflagger.adapters.git.history`); packing
only makes each commit read cheaper. Maintenance is best effort: without a
``git`` on ``PATH`` it is skipped, and a failure never fails a step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOOSE_THRESHOLD = 2000
PACK_LIMIT = 20
"""With more packs than this, ``repack -a`` folds them into one."""
TIMEOUT = 600.0
DEFAULT_MIN_INTERVAL = 60.0
"""Seconds between the starts of two background runs."""


@dataclass(frozen=True)
class MaintenanceReport:
    ran: tuple[str, ...]
    """The git subcommands that ran (``repack``, ``pack-refs``, ``commit-graph``)."""
    failed: str | None = None
    """The first failure's one-line message, if any."""


def loose_objects_estimate(git_dir: str | Path) -> int:
    """Roughly how many loose objects there are: those in ``objects/17`` times 256."""
    try:
        return len(os.listdir(Path(git_dir) / "objects" / "17")) * 256
    except OSError:
        return 0


def pack_count(git_dir: str | Path) -> int:
    """How many packs the repository has (a recorder writing batches adds one per pass)."""
    try:
        return sum(1 for name in os.listdir(Path(git_dir) / "objects" / "pack") if name.endswith(".pack"))
    except OSError:
        return 0


def due(git_dir: str | Path, threshold: int) -> bool:
    """Maintenance is due: loose objects over ``threshold``, or more than :data:`PACK_LIMIT` packs."""
    if threshold <= 0:
        return False
    return loose_objects_estimate(git_dir) >= threshold or pack_count(git_dir) > PACK_LIMIT


def maintain_if_needed(
    git_dir: str | Path, threshold: int = DEFAULT_LOOSE_THRESHOLD
) -> MaintenanceReport | None:
    """Run :func:`maintain` when the loose objects exceed ``threshold``; ``None`` when not needed."""
    if not due(git_dir, threshold):
        return None
    return maintain(git_dir)


def maintain(git_dir: str | Path) -> MaintenanceReport:
    """Repack, pack refs and write the commit-graph with changed-path Bloom filters."""
    git = shutil.which("git")
    if git is None:
        return MaintenanceReport((), "git is not installed; skipped")
    base = [git, "--git-dir", str(git_dir), "-c", "gc.autoDetach=false"]
    packs = list((Path(git_dir) / "objects" / "pack").glob("*.pack"))
    # Many packs (a batching recorder writes one per pass): fold them geometrically, so each run
    # rewrites about what arrived since the last one, not the whole history (loose objects go in too).
    fold = ["--geometric=2"] if len(packs) > PACK_LIMIT else []
    steps = [
        ("repack", ["repack", "-d", "-q", *fold]),
        ("pack-refs", ["pack-refs", "--all"]),
        ("commit-graph", ["commit-graph", "write", "--reachable", "--changed-paths", "--split"]),
    ]
    ran: list[str] = []
    for name, args in steps:
        try:
            proc = subprocess.run(
                [*base, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            return MaintenanceReport(tuple(ran), f"git {name}: {err}")
        if proc.returncode != 0:
            detail = proc.stderr.strip().splitlines()
            return MaintenanceReport(tuple(ran), f"git {name}: {detail[-1] if detail else proc.returncode}")
        ran.append(name)
    return MaintenanceReport(tuple(ran))


class BackgroundMaintenance:
    """:func:`maintain` for one repository, in a background thread, when due and at most so often.

    :meth:`poke` is what a recorder calls at the end of a pass; it never waits
    for git. ``threshold`` is the loose-object estimate that makes a run due
    (``0``: never); ``min_interval`` the seconds between two runs' starts.
    """

    def __init__(
        self,
        git_dir: str | Path,
        threshold: int = DEFAULT_LOOSE_THRESHOLD,
        *,
        min_interval: float = DEFAULT_MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.git_dir = git_dir
        self.threshold = threshold
        self.min_interval = min_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._started_at: float | None = None
        self.last_report: MaintenanceReport | None = None
        """The report of the latest finished run (``None`` before the first)."""

    def poke(self) -> bool:
        """Start a run in the background when one is due; ``True`` when it started one."""
        if self.threshold <= 0:
            return False
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            now = self._clock()
            if self._started_at is not None and now - self._started_at < self.min_interval:
                return False
            if not due(self.git_dir, self.threshold):
                return False
            self._started_at = now
            self._thread = threading.Thread(
                target=self._run, name=f"gitflagger-maintenance {self.git_dir}", daemon=True
            )
            self._thread.start()
            return True

    def wait(self, timeout: float | None = None) -> MaintenanceReport | None:
        """Wait for the run in progress, if any; the latest finished run's report."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.last_report

    @property
    def running(self) -> bool:
        with self._lock:
            return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.last_report = maintain(self.git_dir)
        except Exception as err:  # best effort: a failure never reaches a step
            self.last_report = MaintenanceReport((), f"maintenance: {err}")
