"""Find the cluster the way kubectl does, so every command reaches the one ``kubectl`` reaches.

kubectl's loading rules (client-go's ``clientcmd``), in order:

1. ``--kubeconfig FILE``: that file only; a missing file is an error.
2. ``$KUBECONFIG``: a colon-separated list; files that do not exist are skipped and the
   rest merged. The first file to name a cluster, user or context wins it, and the first
   file that sets ``current-context`` wins that too (the Python client alone would let
   the last one win, so :func:`find_cluster` picks it here).
3. ``~/.kube/config`` when it exists (and ``$KUBECONFIG`` is unset or empty).
4. The pod's service account (in-cluster config) only when none of those exists and
   ``$KUBERNETES_SERVICE_HOST`` and ``$KUBERNETES_SERVICE_PORT`` are set. Without a mounted
   token that fails naming the token file, except for a command that can do without a
   cluster (``dashboard``), which then needs the token to be there (client-go's
   ``inClusterClientConfig.Possible``).

``--context`` picks a context of the merged kubeconfig; it needs a kubeconfig.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitflagger.errors import PermanentError

__all__ = ["IN_CLUSTER", "ClusterSource", "api_client", "find_cluster"]

IN_CLUSTER = "in-cluster config"
TOKEN_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class ClusterSource:
    """Where the connection comes from: kubeconfig ``files`` (merged, first wins) and the
    ``context`` to use, or the pod's service account when ``files`` is empty."""

    origin: str
    """``--kubeconfig``, ``$KUBECONFIG``, ``~/.kube/config`` or :data:`IN_CLUSTER`."""
    files: tuple[str, ...] = ()
    context: str | None = None

    @property
    def in_cluster(self) -> bool:
        return not self.files

    def describe(self) -> str:
        if self.in_cluster:
            return IN_CLUSTER
        where = f"kubeconfig {':'.join(self.files)}"
        return f"{where} (context {self.context})" if self.context else where


def find_cluster(
    kubeconfig: str | None = None,
    context: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    token_file: Path = TOKEN_FILE,
    required: bool = True,
) -> ClusterSource | None:
    """The cluster kubectl would reach with the same flags and environment.

    Returns None only when ``required`` is False and nothing was found; otherwise
    nothing found is a :class:`PermanentError` that names every place looked at.
    """
    env = os.environ if environ is None else environ
    if kubeconfig is not None:
        path = os.path.expanduser(kubeconfig)
        if not os.path.isfile(path):
            raise PermanentError(f"cannot load kubeconfig {kubeconfig}: no such file")
        return ClusterSource("--kubeconfig", (path,), context or _current_context((path,)))
    listed = env.get("KUBECONFIG", "")
    if listed:
        paths = (os.path.expanduser(p) for p in listed.split(os.pathsep) if p)
        files = tuple(dict.fromkeys(p for p in paths if os.path.isfile(p)))
        looked = f"$KUBECONFIG ({listed}: no such file)"
        if files:
            return ClusterSource("$KUBECONFIG", files, context or _current_context(files))
    else:
        default = (home if home is not None else Path.home()) / ".kube" / "config"
        looked = f"~/.kube/config ({default}: no such file)"
        if default.is_file():
            files = (str(default),)
            return ClusterSource("~/.kube/config", files, context or _current_context(files))
    if context is not None:
        raise PermanentError(f"--context {context} needs a kubeconfig, and none was found: {looked}")
    if env.get("KUBERNETES_SERVICE_HOST") and env.get("KUBERNETES_SERVICE_PORT"):
        # In a pod. A command that needs the cluster tries the service account and, without a
        # mounted token, fails naming it; one that can do without (dashboard) needs the token.
        if required or token_file.is_file():
            return ClusterSource(IN_CLUSTER)
        return None
    if not required:
        return None
    raise PermanentError(
        f"no cluster found: no --kubeconfig, {looked}, and not in a pod ($KUBERNETES_SERVICE_HOST unset)"
    )


def _current_context(files: tuple[str, ...]) -> str | None:
    """kubectl's merge: the first file that sets a non-empty ``current-context`` wins."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    for path in files:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.load(fh)
        except Exception as exc:  # OSError and every YAML error alike: one line, not a traceback
            raise PermanentError(f"cannot load kubeconfig {path}: {' '.join(str(exc).split())}") from None
        if not isinstance(doc, dict):
            raise PermanentError(f"cannot load kubeconfig {path}: not a kubeconfig (a YAML mapping)")
        current = doc.get("current-context")
        if isinstance(current, str) and current:
            return current
    return None


def api_client(source: ClusterSource) -> Any:
    """A ``kubernetes`` ApiClient for ``source``; a bad config is one :class:`PermanentError` line."""
    from kubernetes import client, config

    try:
        if source.in_cluster:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return client.ApiClient(configuration)
        return config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=os.pathsep.join(source.files), context=source.context
        )
    except Exception as exc:  # the client raises ConfigException, OSError, YAML and key errors alike
        raise PermanentError(f"cannot load {source.describe()}: {' '.join(str(exc).split())}") from None
