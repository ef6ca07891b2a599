"""The controller's endpoint answers probes beside idle and trickling clients, and ends slow ones."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from gitflagger.engine.serving import MAX_CONNECTIONS, Endpoint
from gitflagger.engine.telemetry import Telemetry


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint("127.0.0.1:0", Telemetry().registry, ready=lambda: True, deadline=3.0)
    try:
        yield ep
    finally:
        ep.close()


def _trickle(port: int, stop: threading.Event) -> None:
    """A client that sends a request one byte every 0.2 s and never finishes its headers."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
            if stop.wait(0.2):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server ended the connection
                return


def test_healthz_answers_within_a_second_beside_idle_and_trickling_connections(endpoint: Endpoint) -> None:
    idle = [socket.create_connection(("127.0.0.1", endpoint.port)) for _ in range(8)]
    stop = threading.Event()
    tricklers = [threading.Thread(target=_trickle, args=(endpoint.port, stop)) for _ in range(8)]
    try:
        for t in tricklers:
            t.start()
        time.sleep(0.5)  # every slow client is connected and mid-request
        for path in ("/healthz", "/readyz", "/metrics"):
            started = time.monotonic()
            answer = requests.get(f"http://127.0.0.1:{endpoint.port}{path}", timeout=1)
            assert answer.status_code == 200
            assert time.monotonic() - started < 1.0
    finally:
        stop.set()
        for s in idle:
            s.close()
        for t in tricklers:
            t.join()


def test_a_slow_client_is_disconnected_at_the_deadline_however_it_trickles(endpoint: Endpoint) -> None:
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(endpoint.port, stop))
    idle = socket.create_connection(("127.0.0.1", endpoint.port))
    started = time.monotonic()
    try:
        trickler.start()
        idle.settimeout(10)
        assert idle.recv(1) == b""  # closed by the server, not by our timeout
        trickler.join(timeout=10)
        assert not trickler.is_alive()  # its sends started failing: the server closed it too
        assert 2.5 < time.monotonic() - started < 6.0
        deadline = time.monotonic() + 5
        while endpoint.connections and time.monotonic() < deadline:
            time.sleep(0.05)
        assert endpoint.connections == 0
    finally:
        stop.set()
        idle.close()
        trickler.join()


def test_connections_beyond_the_cap_are_closed_at_once_and_the_rest_still_served() -> None:
    ep = Endpoint("127.0.0.1:0", Telemetry().registry, ready=lambda: True, deadline=30.0)
    held: list[socket.socket] = []
    try:
        held = [socket.create_connection(("127.0.0.1", ep.port)) for _ in range(MAX_CONNECTIONS)]
        deadline = time.monotonic() + 5
        while ep.connections < MAX_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.05)
        extra = socket.create_connection(("127.0.0.1", ep.port))
        extra.settimeout(5)
        extra.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        assert extra.recv(100) == b""  # refused by closing, not queued behind the idle ones
        extra.close()
        held.pop().close()
        deadline = time.monotonic() + 5
        while ep.connections >= MAX_CONNECTIONS and time.monotonic() < deadline:
            time.sleep(0.05)
        assert requests.get(f"http://127.0.0.1:{ep.port}/healthz", timeout=1).status_code == 200
    finally:
        for s in held:
            s.close()
        ep.close()


def test_healthz_says_why_it_fails() -> None:
    why = {"text": ""}
    ep = Endpoint("127.0.0.1:0", Telemetry().registry, ready=lambda: True, unhealthy=lambda: why["text"])
    try:
        url = f"http://127.0.0.1:{ep.port}/healthz"
        assert requests.get(url, timeout=2).text == "ok\n"
        why["text"] = "the Canary watch thread is dead"
        answer = requests.get(url, timeout=2)
        assert (answer.status_code, answer.text) == (503, "unhealthy: the Canary watch thread is dead\n")
    finally:
        ep.close()
