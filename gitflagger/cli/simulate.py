"""``gitflagger simulate``: preview what a Canary would do, as a table or JSON lines, and as git history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import click
from rich.table import Table

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import FileDiff, RecordedStep, RepoSettings
from gitflagger.cli.diffs import print_diffs
from gitflagger.cli.history import canary_ref
from gitflagger.cli.mesh import mesh_provider_option
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
from gitflagger.cli.tables import print_table
from gitflagger.engine.simulate import DEFAULT_MAX_TICKS, TickResult
from gitflagger.engine.simulate import simulate as run_simulation
from gitflagger.engine.timeline import load_timeline
from gitflagger.engine.workload import Workload, workloads_from_documents


@click.command(
    short_help="Preview a Canary's rollout against a scripted timeline, one commit per step.",
    epilog="""\b
Timeline (YAML; each tick is one analysis interval, an entry holds until the next):
  start: 2026-01-01T00:00:00Z          # optional
  timeline:
    - tick: 0                          # ticks 0 and 1 initialize the Canary
      metrics: {request-success-rate: 99.9, request-duration: 120}
    - tick: 2
      image: ghcr.io/stefanprodan/podinfo:6.0.1
    - tick: 5
      metrics: {request-success-rate: 95}   # merged over earlier values; null = no values
      webhooks: {load-test: fail}           # gates default to pass
      canaryReady: false                    # also primaryReady; manual: promote|abort|retry

\b
Examples:
  gitflagger simulate canary.yaml deployment.yaml hpa.yaml --timeline promote.yaml --repo ./config.git
  gitflagger simulate app/*.yaml --timeline rollback.yaml --repo /tmp/preview --output json
  gitflagger simulate app/*.yaml --timeline promote.yaml --repo ./config.git --dry-run
  gitflagger simulate apps/*.yaml --canary test/podinfo --timeline promote.yaml --repo ./config.git
  git -C ./config.git log --format='%h %s'

"""
    + REPO_EPILOG,
)
@click.argument(
    "files",
    metavar="FILE...",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--timeline",
    "timeline_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The scripted world: metric values, images, readiness and webhook answers per tick.",
)
@click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table at the end, or one JSON object per tick and line as it happens.",
)
@click.option(
    "--max-ticks",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_TICKS,
    show_default=True,
    help="Stop after N ticks even if no rollout ended.",
)
@click.option(
    "--canary",
    "only",
    metavar="NS/NAME",
    default=None,
    callback=lambda ctx, param, value: value if value is None else canary_ref(ctx, param, value),
    help="Simulate only this Canary of the files (default: each Canary, one after the other).",
)
@repo_options(
    writes=True,
    help_repo="Config repo to record into: a path (created bare when missing), file://, https:// or ssh://.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Record and push nothing: print the diff each step would commit against the repo's head; "
    "exit 1 when there is a diff, 0 when there is none.",
)
@mesh_provider_option
def simulate(
    files: tuple[Path, ...],
    timeline_file: Path,
    repo: RepoSettings,
    output: str,
    max_ticks: int,
    dry_run: bool,
    only: str | None,
    mesh_provider: str,
) -> int:
    """Run FILE... (a Canary, its Deployment, HPA, ConfigMaps, Secrets) through a scripted timeline.

    The real decide, render and record stages run, with no cluster: every step
    that changes something becomes a commit in --repo (pushed when --repo is
    a URL). The run stops when a rollout that started after tick 0 has
    Succeeded or Failed. Several Canaries in the files run one after the
    other, each through the same timeline. With --dry-run nothing is written
    anywhere, and the exit code says whether anything would change (1) or
    not (0), as `flux diff` does.
    """
    workloads = workloads_from_documents(load_documents(files), only, default_provider=mesh_provider)
    changed = False
    with repo.created_only_if_written():  # a run that fails before its first commit leaves no repo behind
        for workload in workloads:
            changed |= _simulate_one(workload, timeline_file, repo, output, max_ticks, dry_run)
    return 1 if dry_run and changed else 0


def _simulate_one(
    workload: Workload, timeline_file: Path, repo: RepoSettings, output: str, max_ticks: int, dry_run: bool
) -> bool:
    """Run one Canary through the timeline; whether any step changed (or, dry, would change) a file."""
    timeline = load_timeline(timeline_file)
    pending: list[FileDiff] = []
    changed = False

    def collect(step: RecordedStep, diffs: Sequence[FileDiff]) -> None:
        nonlocal changed
        changed = changed or bool(diffs)
        if output == "json":
            pending.extend(diffs)
        else:
            print_diffs(step.decision.subject, diffs)

    recorder = repo.recorder(dry_run=collect if dry_run else None)
    ticks = run_simulation(workload, timeline, recorder, max_ticks=max_ticks)
    where = f"{repo.remote.display} ({repo.branch})"
    if output == "json":
        for tick in ticks:
            row = {"canary": workload.canary.ref, **tick.to_json()}
            if dry_run:
                row["diff"] = [{"path": d.path, "status": d.status, "text": d.text} for d in pending]
                pending.clear()
            click.echo(json.dumps(row))
        return changed
    rows = list(ticks)
    commits = sum(len(r.commits) for r in rows)
    note = f"dry run: nothing recorded in {where}" if dry_run else f"{commits} commits in {where}"
    print_table(_table(workload.canary.key, rows), note)
    return changed or (not dry_run and commits > 0)


def _table(key: str, rows: list[TickResult]) -> Table:
    table = Table(title=f"simulate {key}")
    for name in ("Tick", "Time", "Phase", "Canary", "Primary", "Failed", "Iter", "Commit", "Events"):
        numeric = name in ("Tick", "Canary", "Primary", "Failed", "Iter")
        table.add_column(name, justify="right" if numeric else "left", no_wrap=name != "Events")
    for r in rows:
        table.add_row(
            str(r.tick),
            r.time.strftime("%H:%M"),
            r.phase,
            str(r.canary_weight),
            str(r.primary_weight),
            str(r.failed_checks),
            str(r.iterations),
            r.commit[:10] if r.commit else "-",
            "\n".join(r.events),
        )
    return table
