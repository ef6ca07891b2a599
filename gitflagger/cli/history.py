"""``gitflagger history NS/NAME``: one row per recorded step, read from the commit trailers."""

from __future__ import annotations

import io
import json

import click
from ruamel.yaml import YAML

from gitflagger.adapters.git import HistoryEntry, RepoSettings
from gitflagger.cli.history_table import print_history
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
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
    type=click.Choice(["table", "json", "jsonl", "yaml"]),
    default="table",
    show_default=True,
    help="A table; one JSON or YAML document {canary, steps}; or jsonl: one JSON object per step and line.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Show at most N steps.")
@click.option("--wide", is_flag=True, help="One line per row, however wide (by default rows wrap to fit).")
def history(canary: str, repo: RepoSettings, output: str, limit: int | None, wide: bool) -> None:
    """List the recorded steps of the Canary NS/NAME, newest first."""
    rows = repo.history(canary, limit=limit)
    if output == "jsonl":
        for row in rows:
            click.echo(json.dumps(_as_json(row)))
        return
    if output in ("json", "yaml"):
        document: dict[str, object] = {"canary": canary, "steps": [_as_json(row) for row in rows]}
        text = json.dumps(document, indent=2) + "\n" if output == "json" else _yaml(document)
        click.echo(text, nl=False)
        return
    print_history(canary, rows, repo.prefix, wide=wide)


def _yaml(document: dict[str, object]) -> str:
    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # one line per value: a wrapped Step-Id reads as two
    yaml.dump(document, out)
    return out.getvalue()


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
