"""Pytest plugin: metrics backends other than Prometheus, started only when a test asks.

``cloudwatch_server``: moto's CloudWatch on a loopback port, one per session;
``graphite_server``: Debian's carbon-cache and graphite-web, one per session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.testbed.cloudwatch import MotoCloudWatch
from tests.testbed.graphite import Graphite


@pytest.fixture(scope="session")
def cloudwatch_server() -> Iterator[MotoCloudWatch]:
    server = MotoCloudWatch().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def graphite_server() -> Iterator[Graphite]:
    server = Graphite().start()
    try:
        yield server
    finally:
        server.stop()
