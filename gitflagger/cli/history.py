"""``gitflagger history NS/NAME``: one row per recorded step, read from the commit trailers."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from gitflagger.adapters.git import DEFAULT_BRANCH, HistoryEntry, read_history
from gitflagger.cli.tables import print_table
from gitflagger.model.status import format_time


def canary_ref(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Check ``namespace/name`` early, so a typo is a usage error and not an empty history."""
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        raise click.BadParameter(f"expected NAMESPACE/NAME, got {value!r}")
    return value


@click.command(
    epilog="""\b
Examples:
  gitflagger history test/podinfo --repo ./config.git
  gitflagger history test/podinfo --repo ./config.git --limit 5 --output json
"""
)
@click.argument("canary", metavar="NS/NAME", callback=canary_ref)
@click.option(
    "--repo",
    "repo",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The config repository (a local path).",
)
@click.option("--branch", default=DEFAULT_BRANCH, show_default=True, help="The branch to read.")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table, or one JSON object per step and line.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N steps.")
def history(canary: str, repo: Path, branch: str, output: str, limit: int | None) -> None:
    """List the recorded steps of the Canary NS/NAME, newest first."""
    rows = read_history(repo, canary, branch=branch, limit=limit)
    if output == "json":
        for row in rows:
            click.echo(json.dumps(_as_json(row)))
        return
    _print_table(canary, rows)


def _as_json(row: HistoryEntry) -> dict[str, object]:
    t = row.trailers
    return {
        "time": format_time(row.time),
        "phase": t.phase,
        "canaryWeight": t.canary_weight,
        "primaryWeight": t.primary_weight,
        "failedChecks": t.failed_checks,
        "iterations": t.iterations,
        "revision": t.revision,
        "stepId": t.step_id,
        "commit": row.commit,
        "subject": row.subject,
    }


def _print_table(canary: str, rows: list[HistoryEntry]) -> None:
    table = Table(title=f"{canary}: recorded steps, newest first")
    for column in ("Time", "Phase", "Weight", "Failed", "Commit", "Subject"):
        table.add_column(column, justify="right" if column in ("Weight", "Failed") else "left")
    for row in rows:
        t = row.trailers
        table.add_row(
            format_time(row.time),
            t.phase,
            str(t.canary_weight),
            str(t.failed_checks),
            row.commit[:10],
            row.subject,
        )
    print_table(table, *([] if rows else [f"no steps recorded for {canary}"]))
