"""The durability tests' kill switch: SIGKILL this process at one named point. Off by default.

The fault-injection suite (``tests/integration/test_durability.py``) must kill
the controller at exact points of a step, not at a random moment. Two
environment variables arm it, and both are needed:

* ``GITFLAGGER_KILL_AT=POINT``: one of :data:`POINTS`;
* ``GITFLAGGER_KILL_ARMED=FILE``: the first time the process reaches POINT
  while FILE exists, it removes FILE and kills itself with SIGKILL (no
  cleanup, as when a node dies). The test creates FILE when the rollout is
  where it wants the kill; replicas sharing FILE die once, not each.

Unset (the default), :func:`point` is one dictionary lookup that returns.
"""

from __future__ import annotations

import os
import signal

from gitflagger.errors import PermanentError

POINTS = {
    "recorded": "a chunk's steps are recorded in memory, not yet persisted",
    "persisted": "a chunk's commits are in the cache, not yet pushed",
    "pushed": "the remote took a chunk's commits, nothing of it is applied yet",
    "applying": "one object of a step is applied, the next is not",
    "applied": "a step's objects are applied, its status is not written",
}
_AT = os.environ.get("GITFLAGGER_KILL_AT", "")
_ARMED = os.environ.get("GITFLAGGER_KILL_ARMED", "")


def check() -> None:
    """Refuse a kill point that does not exist, or one set without its arming file."""
    if not _AT and not _ARMED:
        return
    if _AT not in POINTS:
        raise PermanentError(f"GITFLAGGER_KILL_AT={_AT!r}: not a kill point (one of: {', '.join(POINTS)})")
    if not _ARMED:
        raise PermanentError("GITFLAGGER_KILL_AT needs GITFLAGGER_KILL_ARMED (the file that arms it)")


def point(name: str) -> None:
    """Die here with SIGKILL if ``name`` is the armed kill point and its file exists (see the module doc)."""
    if name != _AT or not _ARMED:
        return
    try:
        os.remove(_ARMED)
    except FileNotFoundError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
