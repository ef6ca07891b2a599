"""The testbed's services for ``python -m tests.testbed up``, after the control plane.

Each follows the :class:`tests.testbed.__main__.Component` protocol. Together they
give a newcomer (and ``make demo``) everything the pytest fixtures give the tests:
the mesh simulator reading VirtualServices from the cluster, Prometheus scraping
it every second, and a git server with one bare repo, ``config``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.testbed.flux import Flux
from tests.testbed.gitserver import GitServer
from tests.testbed.meshsim import PODINFO_FAULTS, KubeRoutes, MeshSim
from tests.testbed.prometheus import Prometheus

if TYPE_CHECKING:
    from tests.testbed.__main__ import RunContext


class MeshSimComponent:
    """Istio-standard request metrics for whatever the cluster's VirtualServices route."""

    name = "meshsim"

    def __init__(self) -> None:
        self.sim: MeshSim | None = None

    def start(self, ctx: RunContext) -> dict[str, str]:
        if ctx.cluster is None:
            raise RuntimeError("meshsim needs the cluster component first")
        routes = KubeRoutes.from_kubeconfig(str(ctx.cluster.kubeconfig))
        self.sim = MeshSim(routes, faults=PODINFO_FAULTS, rate=200.0).start()
        return {"target": self.sim.target, "metrics": f"http://{self.sim.target}/metrics"}

    def healthy(self) -> bool:
        return self.sim is not None

    def stop(self) -> None:
        if self.sim is not None:
            self.sim.stop()


class PrometheusComponent:
    """A real Prometheus scraping the mesh simulator every second."""

    name = "prometheus"

    def __init__(self) -> None:
        self.prom: Prometheus | None = None

    def start(self, ctx: RunContext) -> dict[str, str]:
        target = ctx.info.get("meshsim", {}).get("target")
        self.prom = Prometheus([target] if target else []).start()
        return {"url": self.prom.url}

    def healthy(self) -> bool:
        return self.prom is not None and self.prom.proc is not None and self.prom.proc.poll() is None

    def stop(self) -> None:
        if self.prom is not None:
            self.prom.stop()


class GitServerComponent:
    """Smart HTTP (basic auth) and SSH git server with a bare repo ``config``."""

    name = "gitserver"

    def __init__(self) -> None:
        self.server: GitServer | None = None

    def start(self, ctx: RunContext) -> dict[str, str]:
        self.server = GitServer(root=ctx.state_dir(self.name) / "repos").start()
        if not self.server.repo_path("config").exists():  # kept across `down`/`up` in one dir
            self.server.create_repo("config", initial_commit=True)
        password_file = ctx.state_dir(self.name) / "password"  # a file, so status never prints it
        password_file.touch(mode=0o600)
        password_file.write_text(self.server.password)
        return {
            "password_file": str(password_file),
            "http_url": self.server.http_url("config"),
            "ssh_url": self.server.ssh_url("config"),
            "username": self.server.username,
            "ssh_key": str(self.server.client_key),
            "known_hosts": str(self.server.known_hosts),
        }

    def healthy(self) -> bool:
        return self.server is not None

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class FluxComponent:
    """Flux's source-controller and kustomize-controller (``up --flux``), after the git server."""

    name = "flux"

    def __init__(self) -> None:
        self.flux: Flux | None = None

    def start(self, ctx: RunContext) -> dict[str, str]:
        if ctx.cluster is None:
            raise RuntimeError("flux needs the cluster component first")
        self.flux = Flux(ctx.cluster, ctx.state_dir(self.name)).start()
        return {"storage": f"http://127.0.0.1:{self.flux.storage_port}",
                **{f"{name}_log": str(path) for name, path in self.flux.log_paths().items()}}

    def healthy(self) -> bool:
        return self.flux is not None and self.flux.running

    def stop(self) -> None:
        if self.flux is not None:
            self.flux.stop()
