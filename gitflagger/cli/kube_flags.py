"""``--kubeconfig`` and ``--context``: the same two flags, with the same meaning, on every command
that talks to the cluster (found as kubectl finds it: :mod:`gitflagger.adapters.kube.config`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

KUBECONFIG_HELP = (
    "Kubeconfig file. Else $KUBECONFIG (a colon-separated list, merged as kubectl merges it), "
    "else ~/.kube/config, else the pod's service account."
)


def kube_flags(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--kubeconfig`` (param ``kubeconfig``) and ``--context`` (param ``kube_context``)."""
    func = click.option(
        "--context", "kube_context", default=None, metavar="NAME",
        help="Kubeconfig context; its current-context when omitted.",
    )(func)
    path = click.Path(dir_okay=False)
    return click.option("--kubeconfig", type=path, default=None, help=KUBECONFIG_HELP)(func)
