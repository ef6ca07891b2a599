"""Printing unified diffs: coloured on a terminal, plain when piped (``--dry-run``)."""

from __future__ import annotations

from collections.abc import Sequence

import click

from gitflagger.adapters.git import FileDiff


def print_diffs(title: str, diffs: Sequence[FileDiff]) -> None:
    """A heading for the step, then each file's diff; ``no changes`` when there are none.

    ``click.echo`` drops the colours itself when stdout is not a terminal.
    """
    click.echo(click.style(f"# {title}", bold=True))
    if not diffs:
        click.echo("  no changes")
    for diff in diffs:
        for line in diff.text.splitlines():
            click.echo(_style(line))


def _style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    if line.startswith("@@"):
        return click.style(line, fg="cyan")
    if line.startswith("+"):
        return click.style(line, fg="green")
    if line.startswith("-"):
        return click.style(line, fg="red")
    return line
