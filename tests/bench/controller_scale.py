"""Item 5, the controller at scale on the testbed (and item 6's run of Flagger beside it): not yet runnable.

What it must measure, per controller, for N = 100, 300, 1,000 progressing
Istio Canaries at their interval on :class:`tests.testbed.cluster.Cluster`
(with the mesh simulator and Prometheus, Canaries without webhooks):

* API requests per step, counted at the client: both controllers talk to the
  apiserver through one counting loopback proxy (a kubeconfig whose server is
  the proxy; the proxy holds the admin client certificate), so the count is
  the same method for gitflagger and for Flagger;
* CPU-seconds per step (``utime + stime`` from ``/proc/<pid>/stat``) and RSS
  (``VmRSS``), sampled for the controller process only;
* step lateness p50/p99 against the interval, from the Canaries'
  ``lastTransitionTime``/``lastStepTime`` (gitflagger) and the Events.

Flagger runs as ``flagger -kubeconfig K -mesh-provider istio -metrics-server
PROM -namespace NS -enable-leader-election=false -log-level info``; both
controllers reconcile ``flagger.app`` Canaries, so they run one after the
other on fresh namespaces, never at the same time.

:func:`runnable` says why this cannot run yet; the harness reports that as a
row instead of a figure.
"""

from __future__ import annotations

import importlib.util

from tests.bench.harness import Row


def _controller_landed() -> str | None:
    """``None`` when ``gitflagger run`` exists; otherwise what is missing."""
    if importlib.util.find_spec("gitflagger.engine.controller") is None:
        return "the controller (gitflagger run, gitflagger.engine.controller) is not in the tree yet"
    try:
        from gitflagger.cli.main import main as cli
    except Exception as err:  # the CLI is being changed concurrently
        return f"the CLI does not import: {err}"
    commands = getattr(cli, "commands", {})
    if "run" not in commands:
        return "the CLI has no run command yet"
    return None


def runnable() -> tuple[bool, str]:
    missing = _controller_landed()
    reasons = [missing] if missing else []
    reasons.append(
        "the testbed driver for this benchmark (N Canaries, a counting apiserver proxy, per-process "
        "CPU/RSS sampling, lateness from status) is not implemented yet"
    )
    return False, "; ".join(reasons)


def run(quick: bool) -> list[Row]:
    _, why = runnable()
    return [Row("controller at N=100/300/1,000: API requests/step, CPU-s/step, RSS, lateness p99",
                None, "", target="≤ 4 req/step; ≤ 150 MB at 1,000; lateness p99 ≤ 5 s",
                notes=f"not yet runnable: {why}")]
