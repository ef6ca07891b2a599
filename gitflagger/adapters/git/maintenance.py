"""Keep a config repo fast at 100k+ commits: pack loose objects, pack refs, write a commit-graph.

libgit2 writes every object loose, and a step writes about seven (a commit,
four or five trees, one or two blobs), so a busy controller leaves hundreds of
thousands of small files behind. Reading a commit from a pack is cheaper than
from a loose file, and the git CLI (which people use to review the repo)
slows down with them too. So, at the end of a pass, when the loose objects
are estimated to exceed a threshold (the way ``git gc --auto`` estimates:
count one of the 256 fan-out directories), the recorder runs the git CLI:

* ``git repack -d``: loose objects into a new pack (``-a`` once packs pile up);
* ``git pack-refs --all``: one file for the per-canary index refs;
* ``git commit-graph write --reachable --changed-paths --split``: a
  commit-graph with changed-path Bloom filters, so that ``git log -- <dir>``
  (how people review one Canary) skips commits that did not touch it.
  ``--split`` only adds the new commits, so the cost follows the new commits.

gitflagger's own history reading does not need any of this (it follows the
``Previous-Step`` chain, see :mod:`gitflagger.adapters.git.history`); packing
only makes each commit read cheaper. Maintenance is best effort: without a
``git`` on ``PATH`` it is skipped, and a failure never fails a step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOOSE_THRESHOLD = 2000
PACK_LIMIT = 20
"""With more packs than this, ``repack -a`` folds them into one."""
TIMEOUT = 600.0


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


def maintain_if_needed(
    git_dir: str | Path, threshold: int = DEFAULT_LOOSE_THRESHOLD
) -> MaintenanceReport | None:
    """Run :func:`maintain` when the loose objects exceed ``threshold``; ``None`` when not needed."""
    if threshold <= 0 or loose_objects_estimate(git_dir) < threshold:
        return None
    return maintain(git_dir)


def maintain(git_dir: str | Path) -> MaintenanceReport:
    """Repack, pack refs and write the commit-graph with changed-path Bloom filters."""
    git = shutil.which("git")
    if git is None:
        return MaintenanceReport((), "git is not installed; skipped")
    base = [git, "--git-dir", str(git_dir), "-c", "gc.autoDetach=false"]
    packs = list((Path(git_dir) / "objects" / "pack").glob("*.pack"))
    steps = [
        ("repack", ["repack", "-d", "-q", *(["-a"] if len(packs) > PACK_LIMIT else [])]),
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
