"""``gitflagger history NS/NAME``: one row per recorded step, read from the commit trailers."""

from __future__ import annotations

import json

import click
from rich.table import Table

from gitflagger.adapters.git import HistoryEntry, RepoSettings
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
from gitflagger.cli.tables import print_table
from gitflagger.model.status import format_time


def canary_ref(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Check ``namespace/name`` early, so a typo is a usage error and not an empty history."""
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        raise click.BadParameter(f"expected NAMESPACE/NAME, got {value!r}")
    return value


@click.command(
    epilog=f"""\b
Examples:
  gitflagger history test/podinfo --repo ./config.git
  gitflagger history test/podinfo --repo ./config.git --limit 5 --output json
  gitflagger history test/podinfo --repo https://git.example.com/org/config.git \\
      --git-username bot --git-password-file /run/secrets/git-password
  gitflagger history test/podinfo --repo ssh://git@git.example.com/org/config.git \\
      --ssh-key ~/.ssh/id_ed25519 --known-hosts ./known_hosts

\b
A phase shown as "Progressing → Failed" marks the commit where the phase
changed; `git show <commit>` shows that step's files and evidence.

{REPO_EPILOG}""",
)
@click.argument("canary", metavar="NS/NAME", callback=canary_ref)
@repo_options(help_repo="The config repo to read: a path, file://, https:// or ssh:// URL.")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table, or one JSON object per step and line.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N steps.")
def history(canary: str, repo: RepoSettings, output: str, limit: int | None) -> None:
    """List the recorded steps of the Canary NS/NAME, newest first."""
    rows = repo.history(canary, limit=limit)
    if output == "json":
        for row in rows:
            click.echo(json.dumps(_as_json(row)))
        return
    _print_table(canary, rows, repo.prefix)


def _as_json(row: HistoryEntry) -> dict[str, object]:
    t = row.trailers
    return {
        "time": format_time(row.time),
        "phase": t.phase,
        "phaseChanged": row.phase_changed,
        "canaryWeight": t.canary_weight,
        "primaryWeight": t.primary_weight,
        "failedChecks": t.failed_checks,
        "iterations": t.iterations,
        "metrics": {name: _number(value) for name, value in row.metrics.items()},
        "revision": t.revision,
        "stepId": t.step_id,
        "commit": row.commit,
        "previousStep": t.previous_step,
        "subject": row.subject,
    }


def _number(value: str) -> float | str:
    try:
        return float(value)
    except ValueError:
        return value


def _print_table(canary: str, rows: list[HistoryEntry], prefix: str) -> None:
    table = Table(title=f"{canary}: recorded steps, newest first")
    for column in ("Time", "Phase", "Weight", "Failed", "Metrics", "Commit", "Subject"):
        table.add_column(column, justify="right" if column in ("Weight", "Failed") else "left")
    for row in rows:
        t = row.trailers
        phase = t.phase
        if row.phase_changed and row.previous_phase:
            phase = f"{row.previous_phase} → {t.phase}"
        table.add_row(
            format_time(row.time),
            phase,
            str(t.canary_weight),
            str(t.failed_checks),
            "\n".join(f"{name}={value}" for name, value in row.metrics.items()),
            row.commit[:10],
            row.subject,
        )
    where = f"{prefix.strip('/')}/{canary}/" if prefix.strip("/") else f"{canary}/"
    print_table(table, *([] if rows else [f"no steps recorded for {canary} in {where} (see --repo-prefix)"]))
