"""``Receiving objects:  45% (450/1000), 1.2 MiB`` on stderr while a remote repo is cloned or fetched.

Only on a terminal (stderr a TTY), only for commands a person waits on: the
long-running ``run`` and ``dashboard`` fetch quietly. One line, redrawn in
place, at most ten times a second, ended with a newline when the transfer is.
"""

from __future__ import annotations

import sys
import time

import click

from gitflagger.adapters.git import progress

QUIET_COMMANDS = {"run", "dashboard"}


def show_transfer_progress() -> None:
    """Report the transfers of the current command on stderr, when a person is watching it."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name in QUIET_COMMANDS or not sys.stderr.isatty():
        return
    progress.set_reporter(TerminalProgress())


class TerminalProgress:
    def __init__(self) -> None:
        self.last = 0.0

    def __call__(self, received: int, total: int, received_bytes: int) -> None:
        done = received >= total
        now = time.monotonic()
        if not done and now - self.last < 0.1:
            return
        self.last = now
        pct = received * 100 // total
        line = f"\rReceiving objects: {pct:3d}% ({received}/{total}), {_size(received_bytes)}"
        click.echo(line + (", done.\n" if done else ""), err=True, nl=False)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"
