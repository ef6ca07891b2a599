"""``gitflagger status NS/NAME``: wait for the Canary's release to end; the exit code says how.

0 when it Succeeded (or was Initialized: a first deployment has nothing to roll
out), 1 when it Failed, 2 when ``--timeout`` passed first, as ``kubectl argo
rollouts status`` does, so a CI job can gate on a release. A final phase counts
only once the controller has seen the target's current template
(``status.lastAppliedSpec``): right after ``kubectl set image`` the Canary still
says ``Succeeded`` about the release before.
"""

from __future__ import annotations

import time

import click

from gitflagger.adapters.kube import KubeCluster
from gitflagger.cli.follow import follow, view
from gitflagger.cli.history import canary_ref
from gitflagger.cli.kube_flags import kube_flags
from gitflagger.errors import PermanentError
from gitflagger.model.durations import parse_duration

SUCCEEDED, FAILED, TIMED_OUT = 0, 1, 2
_DONE = {"Succeeded": SUCCEEDED, "Initialized": SUCCEEDED, "Failed": FAILED}


def duration_option(ctx: click.Context, param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value).seconds
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0")
    return seconds


@click.command(epilog="""\b
Examples:
  kubectl -n test set image deployment/podinfo podinfod=ghcr.io/stefanprodan/podinfo:6.0.2
  gitflagger status test/podinfo --timeout 15m && echo released

\b
Exit codes: 0 Succeeded, 1 Failed, 2 timed out (and 1 with an error line for a
Canary that does not exist or a cluster that cannot be reached).
""")
@click.argument("canary", metavar="NS/NAME", callback=canary_ref)
@kube_flags
@click.option("--timeout", "timeout", default="10m", show_default=True, callback=duration_option,
              help="How long to wait for the release to end (Go duration: 30s, 10m, 1h).")
def status(canary: str, kubeconfig: str | None, kube_context: str | None, timeout: float) -> int:
    """Wait until the Canary NS/NAME's release Succeeded (exit 0) or Failed (1); 2 on --timeout."""
    namespace, _, name = canary.partition("/")
    deadline = time.monotonic() + timeout
    kube = KubeCluster.connect(kubeconfig, kube_context)
    shown: tuple[str, int, int, bool] | None = None
    try:
        for obj in follow(kube, namespace, name, deadline):
            if obj is None:
                raise PermanentError(f"Canary {canary} not found")
            v = view(kube, obj)
            now = (v.phase, v.canary_weight, v.failed_checks, v.current)
            if now != shown:
                shown = now
                waiting = "" if v.current else " (waiting for the controller to pick up the new revision)"
                click.echo(f"{canary}: {v.phase or 'not initialized'}, canary weight {v.canary_weight}, "
                           f"failed checks {v.failed_checks}{waiting}")
            if v.current and v.phase in _DONE:
                click.echo(f"{canary}: {v.phase}: {v.last_event or '-'}")
                return _DONE[v.phase]
    finally:
        kube.close()
    click.echo(f"{canary}: timed out after {timeout:g}s", err=True)
    return TIMED_OUT
