"""Each pytest-xdist worker takes testbed ports from its own slice below the ephemeral range.

Workers start clusters, Prometheus and git servers at the same moment; a port probed by one
and bound a moment later must not be handed to another (tests/testbed/procs.py).
"""

from __future__ import annotations

import socket

import pytest

from tests.testbed import procs


def _slice(worker: int) -> range:
    low = procs.WORKER_PORT_BASE + worker * procs.WORKER_PORT_SLICE
    return range(low, low + procs.WORKER_PORT_SLICE)


def test_a_worker_gets_distinct_ports_from_its_own_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw2")
    ports = procs.free_ports(6) + procs.free_ports(6)
    assert len(set(ports)) == 12
    assert all(p in _slice(2) for p in ports), ports
    assert max(_slice(7)) < procs._ephemeral_low()  # room for 8 workers


def test_a_bound_port_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", procs.free_ports(1)[0]))
        busy.listen()
        taken = busy.getsockname()[1]
        seen = {p for _ in range(procs.WORKER_PORT_SLICE // 50) for p in procs.free_ports(50)}
    assert taken not in seen  # though the calls went round the whole slice
    assert seen <= set(_slice(1))


def test_outside_xdist_or_past_the_slices_the_kernel_picks(monkeypatch: pytest.MonkeyPatch) -> None:
    low = procs._ephemeral_low()
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert all(p >= low for p in procs.free_ports(3))
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw999")
    assert all(p >= low for p in procs.free_ports(3))
