"""Pytest plugin: the testbed's Prometheus, mesh simulator and git server.

Session-scoped: ``prometheus`` (scrapes every mesh simulator the fixtures start),
``meshsim`` (reads the ``cluster`` fixture's VirtualServices and Deployments),
``git_server`` (smart HTTP + SSH). Function-scoped: ``static_meshsim`` (weights
set from Python, no cluster) and ``git_repo`` (a fresh bare repo per test).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.meshsim import PODINFO_FAULTS, KubeRoutes, MeshSim, StaticRoutes
from tests.testbed.prometheus import Prometheus

MESHSIM_RATE = 200.0  # simulated requests/s per VirtualService host
_repo_counter = itertools.count(1)


@pytest.fixture(scope="session")
def prometheus() -> Iterator[Prometheus]:
    prom = Prometheus().start()
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture(scope="session")
def meshsim(cluster: Any, prometheus: Prometheus) -> Iterator[MeshSim]:
    """The mesh simulator for the testbed cluster, scraped by ``prometheus``."""
    sim = MeshSim(KubeRoutes(cluster.kube_client()), faults=PODINFO_FAULTS, rate=MESHSIM_RATE).start()
    prometheus.add_target(sim.target)
    try:
        yield sim
    finally:
        prometheus.remove_target(sim.target)
        sim.stop()


@pytest.fixture
def static_meshsim(prometheus: Prometheus) -> Iterator[MeshSim]:
    """A mesh simulator with routes set from Python (``set_routes``), scraped by ``prometheus``."""
    sim = MeshSim(StaticRoutes(), faults=PODINFO_FAULTS, rate=MESHSIM_RATE).start()
    prometheus.add_target(sim.target)
    try:
        yield sim
    finally:
        prometheus.remove_target(sim.target)
        sim.stop()


@pytest.fixture(scope="session")
def git_server() -> Iterator[GitServer]:
    server = GitServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def git_repo(git_server: GitServer, request: pytest.FixtureRequest) -> RepoUrls:
    """A fresh bare repo with one commit on ``main``, named after the test."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60].strip("-.")
    return git_server.create_repo(f"{name}-{next(_repo_counter)}")
