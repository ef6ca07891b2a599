"""Pytest plugin: Flux's source-controller and kustomize-controller, one pair for the whole session.

``flux`` (session)
    A started :class:`~tests.testbed.flux.Flux` on the ``cluster`` fixture's API
    server. Session-scoped and only built when a test asks for it, so suites
    that never use Flux never start it; every test that does shares the same
    two processes (their logs are in the cluster's log dir) and keeps to its
    own namespace, so a GitRepository or Kustomization of one test never
    touches another's objects.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testbed.cluster import Cluster
from tests.testbed.flux import Flux


@pytest.fixture(scope="session")
def flux(cluster: Cluster) -> Iterator[Flux]:
    controllers = Flux(cluster).start()
    try:
        yield controllers
    finally:
        controllers.stop()
