"""Printing rich tables to stdout, readable in a terminal and when piped."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 160
"""Width used when stdout is not a terminal: rich's default of 80 would wrap every row."""


def print_table(table: Table, *notes: str) -> None:
    """Print ``table`` (then ``notes``) to stdout; colours only on a terminal."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=PIPED_WIDTH)
    console.print(table)
    for note in notes:
        console.print(note, highlight=False, markup=False)
