"""Where libgit2's transfer progress goes: nowhere, unless a command run on a terminal asks for it.

A clone of a big config repo can take minutes; a person at a terminal should
see it move, as with ``git clone``. Logs and pipes must not fill with
carriage returns, so the command decides (only when stderr is a TTY) and this
module just forwards the counts.
"""

from __future__ import annotations

from collections.abc import Callable

Reporter = Callable[[int, int, int], None]
"""Called with (objects received, objects in total, bytes received)."""

_reporter: Reporter | None = None


def set_reporter(reporter: Reporter | None) -> None:
    global _reporter
    _reporter = reporter


def report(received: int, total: int, received_bytes: int) -> None:
    if _reporter is not None and total:
        _reporter(received, total, received_bytes)
