"""Printing rich tables to stdout, readable in a terminal and when piped."""

from __future__ import annotations

import os

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 160
"""Width used when stdout is not a terminal: rich's default of 80 would wrap every row."""

WIDE = 100_000
"""``--wide``: no width limit, every row on its lines at its natural width."""


def stdout_console(*, wide: bool = False) -> Console:
    """A console on stdout as wide as the terminal (``$COLUMNS`` when set), or :data:`PIPED_WIDTH` piped."""
    console = Console()
    if wide:
        return Console(width=WIDE)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        return Console(width=PIPED_WIDTH)
    return console


def print_table(table: Table, *notes: str, console: Console | None = None) -> None:
    """Print ``table`` (then ``notes``) to stdout; colours only on a terminal."""
    console = console or stdout_console()
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)
