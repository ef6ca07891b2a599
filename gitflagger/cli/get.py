"""``gitflagger get canaries``: the Canaries of a cluster, Flagger's printer columns plus the last commit."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click
from rich.table import Table

from gitflagger.adapters.kube import KubeCluster
from gitflagger.cli.follow import follow, view
from gitflagger.cli.history import canary_ref
from gitflagger.cli.kube_flags import kube_flags
from gitflagger.cli.tables import print_table


@click.group(epilog="""\b
Examples:
  gitflagger get canaries
  gitflagger get canaries -n test --output json
  gitflagger get canary test/podinfo --watch
""")
def get() -> None:
    """Show objects gitflagger manages."""


@get.command(epilog="""\b
Examples:
  gitflagger get canaries --kubeconfig ~/.kube/config
  gitflagger get canaries -n test -o json
""")
@kube_flags
@click.option("--namespace", "-n", default=None, help="One namespace (all when omitted).")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table", show_default=True)
def canaries(kubeconfig: str | None, kube_context: str | None, namespace: str | None, output: str) -> None:
    """List Canaries: status, weight, failed checks, last transition and the last step's commit."""
    kube = KubeCluster.connect(kubeconfig, kube_context)
    try:
        items, _ = kube.list_canaries(namespace)
    finally:
        kube.close()
    rows = sorted((_row(o) for o in items), key=lambda r: (r["namespace"], r["name"]))
    if output == "json":
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = Table(title="Canaries")
    for column in ("Namespace", "Name", "Status", "Weight", "FailedChecks", "Interval", "LastTransitionTime",
                   "LastCommit"):
        table.add_column(column, justify="right" if column in ("Weight", "FailedChecks") else "left")
    for r in rows:
        table.add_row(r["namespace"], r["name"], r["phase"], str(r["canaryWeight"]), str(r["failedChecks"]),
                      r["interval"], r["lastTransitionTime"], r["lastCommit"][:10])
    print_table(table, *([] if rows else ["no Canaries found"]))


def _row(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    analysis = spec.get("analysis") or spec.get("canaryAnalysis") or {}
    return {
        "namespace": str(meta.get("namespace", "")),
        "name": str(meta.get("name", "")),
        "phase": str(status.get("phase") or ""),
        "canaryWeight": status.get("canaryWeight", 0),
        "failedChecks": status.get("failedChecks", 0),
        "interval": str(analysis.get("interval", "")),
        "lastTransitionTime": str(status.get("lastTransitionTime", "")),
        "lastCommit": str(status.get("lastCommit", "")),
    }


_CLEAR = "\x1b[H\x1b[2J"


@get.command(epilog="""\b
Examples:
  gitflagger get canary test/podinfo
  gitflagger get canary test/podinfo --watch      # redraws on every change; Ctrl-C ends it
""")
@click.argument("canary", metavar="NS/NAME", callback=canary_ref)
@kube_flags
@click.option("--watch", "-w", is_flag=True, help="Redraw on every change until interrupted.")
def canary(canary: str, kubeconfig: str | None, kube_context: str | None, watch: bool) -> None:
    """One Canary: phase, weight, failed checks, its last event and the last step's commit."""
    namespace, _, name = canary.partition("/")
    kube = KubeCluster.connect(kubeconfig, kube_context)
    terminal = sys.stdout.isatty()
    shown: list[str] | None = None
    try:
        for obj in follow(kube, namespace, name, float("inf") if watch else time.monotonic() + 60):
            lines = [f"Canary {canary} not found"] if obj is None else view(kube, obj).lines()
            if obj is None and not watch:
                raise click.ClickException(lines[0])
            if lines != shown:
                if terminal:
                    click.echo(_CLEAR, nl=False)  # redraw in place
                elif shown is not None:
                    click.echo("")  # piped: one block per change
                shown = lines
                click.echo("\n".join(lines))
            if not watch:
                return
    finally:
        kube.close()
