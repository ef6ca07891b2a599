"""Lock files left in the config repo by a process that died, and what to do about them.

git and libgit2 update a ref (or ``packed-refs``) by creating ``<file>.lock``
with ``O_EXCL``, writing the new value into it and renaming it over the file.
A process killed between the two leaves the lock behind, and every later
update of that ref fails with "failed to lock file". Retrying cannot help:
nothing will ever remove the file. Git itself only tells the user to remove
it; lock files hold the new value, not the owner's pid, so whether the owner
is still alive cannot be asked.

What gitflagger does when an update of the config repo meets a lock:

* it waits up to :data:`LOCK_WAIT` for the lock to go away (a live writer,
  such as ``git pack-refs`` in maintenance, holds one for milliseconds; git's
  own commands give up after 100 ms for a ref and 1 s for ``packed-refs``);
* a lock older than :data:`STALE_LOCK_AGE` is removed, with a warning naming
  the file: no writer holds a ref lock for minutes, so its owner is gone;
* a younger lock that was not released is an error naming the file to remove
  (:func:`settle`), so the operator is not left waiting for the age.
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import structlog

from gitflagger.errors import TemporaryError

STALE_LOCK_AGE = 120.0
"""Seconds after which a lock file is taken as left by a dead process and removed (see the module doc)."""
LOCK_WAIT = 2.0
"""Seconds to wait for a lock that is younger than :data:`STALE_LOCK_AGE` to be released."""
_POLL = 0.02
_FAILED_TO_LOCK = re.compile(r"lock file '([^']+\.lock)'")


def lock_in_error(err: BaseException, git_dir: str | Path) -> Path | None:
    """The lock file libgit2's error names (``failed to lock file '…/main.lock'``) if inside ``git_dir``."""
    found = _FAILED_TO_LOCK.search(str(err))
    if found is None:
        return None
    lock = Path(found.group(1))
    root = Path(git_dir).resolve()
    try:
        lock.resolve().relative_to(root)
    except ValueError:
        return None
    return lock


def ref_lock(git_dir: str | Path, ref_name: str) -> Path:
    """The lock file of the loose ref ``ref_name`` (``refs/heads/main`` → ``…/refs/heads/main.lock``)."""
    return Path(git_dir) / f"{ref_name}.lock"


def remove_if_stale(
    lock: Path, *, stale_after: float | None = None, clock: Callable[[], float] = time.time
) -> bool:
    """Remove ``lock`` when older than ``stale_after`` (:data:`STALE_LOCK_AGE`); ``True`` when it is gone."""
    stale_after = STALE_LOCK_AGE if stale_after is None else stale_after
    try:
        seen = lock.stat()
    except FileNotFoundError:
        return True
    age = clock() - seen.st_mtime
    if age < stale_after:
        return False
    try:
        again = lock.stat()
        if (again.st_ino, again.st_mtime_ns) == (seen.st_ino, seen.st_mtime_ns):  # not a new lock meanwhile
            lock.unlink()
    except FileNotFoundError:
        return True
    _warn(f"removed a stale lock file {lock} ({age:.0f} s old; locks older than {stale_after:.0f} s "
          "are left by a process that died)", path=str(lock), age_s=round(age))
    return True


def settle(
    lock: Path,
    *,
    what: str,
    wait: float | None = None,
    stale_after: float | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Return once ``lock`` is gone: released within ``wait``, or removed as stale.

    Raises :class:`TemporaryError`, one line naming the file, when a lock
    younger than ``stale_after`` is still there after ``wait`` seconds.
    ``what`` names what the lock guards (``refs/heads/main``). The defaults
    are :data:`LOCK_WAIT` and :data:`STALE_LOCK_AGE`.
    """
    wait = LOCK_WAIT if wait is None else wait
    stale_after = STALE_LOCK_AGE if stale_after is None else stale_after
    deadline = time.monotonic() + wait
    while not remove_if_stale(lock, stale_after=stale_after, clock=clock):
        if time.monotonic() >= deadline:
            try:
                age = clock() - lock.stat().st_mtime
            except FileNotFoundError:
                return
            raise TemporaryError(
                f"git: {what} is locked by a dead process: remove {lock} "
                f"(held for {age:.0f} s and not released in {wait:.0f} s; "
                f"gitflagger removes it itself once it is {stale_after:.0f} s old)"
            )
        time.sleep(_POLL)


def settle_after_error(
    err: BaseException,
    git_dir: str | Path,
    ref_name: str,
    *,
    wait: float | None = None,
    stale_after: float | None = None,
) -> None:
    """After a failed update of ``ref_name``: :func:`settle` the lock that stopped it, if a lock did."""
    lock = lock_in_error(err, git_dir)
    if lock is None:
        candidate = ref_lock(git_dir, ref_name)
        lock = candidate if candidate.exists() else None
    if lock is not None:
        settle(lock, what=ref_name, wait=wait, stale_after=stale_after)


def _warn(message: str, **fields: object) -> None:
    """A warning line: structured when the process configured logging (``run``), plain on stderr otherwise."""
    if structlog.is_configured():
        structlog.get_logger("gitflagger").bind(component="git").warning(message, **fields)
    else:
        with contextlib.suppress(OSError):
            print(f"warning: {message}", file=sys.stderr)
