"""The controller's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process is able to work and 503 with the
reason when it is not (leadership lost, a watch thread dead, the stepper
stuck), so the kubelet restarts a wedged controller; ``/readyz`` answers 200
once the Canaries and the watch caches were listed.

The kubelet's probes must be answered whatever else connects. So each
connection gets a thread of its own (an idle or slow client holds only its own
thread), a connection is closed :data:`REQUEST_DEADLINE` seconds after it was
accepted however slowly its client trickles bytes, and at most
:data:`MAX_CONNECTIONS` are served at once (more are closed at once rather
than queued behind the slow ones). Serving runs on daemon threads, so a slow
scrape never delays a step.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from gitflagger.errors import PermanentError

REQUEST_DEADLINE = 10.0
"""Seconds a connection may take from accept to the end of its answer (headers, scrape, write)."""
MAX_CONNECTIONS = 64
"""Connections served at once; the kubelet and a scraper need a handful."""
_REAP_EVERY = 0.5


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line each
        pass


class _Server(ThreadingMixIn, WSGIServer):
    """A WSGI server with a thread per connection and a deadline on each connection.

    A reaper thread shuts down the socket of a connection past its deadline:
    the read or write its handler is blocked in then fails, and the thread ends.
    A per-read socket timeout alone would not do: a client sending one byte a
    second never lets a read time out.
    """

    daemon_threads = True
    request_queue_size = MAX_CONNECTIONS  # a burst of connections waits in the backlog, not in SYN retries
    deadline = REQUEST_DEADLINE
    limit = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: dict[socket.socket, float] = {}
        self._open_lock = threading.Lock()
        self._closing = threading.Event()
        super().__init__(*args, **kwargs)
        threading.Thread(target=self._reap, name="metrics-reaper", daemon=True).start()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            full = len(self._open) >= self.limit
            if not full:
                self._open[request] = time.monotonic() + self.deadline
        if full:
            self.shutdown_request(request)
            return
        request.settimeout(self.deadline)  # a read or write never blocks past the deadline either
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or ran out of time: nothing to report (the default prints a traceback)."""

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()

    def _reap(self) -> None:
        while not self._closing.wait(_REAP_EVERY):
            now = time.monotonic()
            with self._open_lock:
                late = [s for s, deadline in self._open.items() if deadline <= now]
            for sock in late:
                with contextlib.suppress(OSError):  # already closed by its handler
                    sock.shutdown(socket.SHUT_RDWR)

    @property
    def connections(self) -> int:
        with self._open_lock:
            return len(self._open)


def parse_addr(addr: str) -> tuple[str, int]:
    """``":8080"`` → ``("0.0.0.0", 8080)``; ``"127.0.0.1:0"`` picks a free port."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise PermanentError(f"--metrics-addr must be [HOST]:PORT, got {addr!r}")
    return host or "0.0.0.0", int(port)


class Endpoint:
    """A running HTTP endpoint; :attr:`port` is the bound port (useful with port 0).

    ``unhealthy`` says why the process cannot work (empty while it can): its
    text is ``/healthz``'s 503 answer, so ``kubectl describe pod`` shows why the
    kubelet restarted it.
    """

    def __init__(
        self,
        addr: str,
        registry: CollectorRegistry,
        *,
        ready: Callable[[], bool],
        unhealthy: Callable[[], str] = lambda: "",
        deadline: float = REQUEST_DEADLINE,
    ) -> None:
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                body: Iterable[bytes] = metrics(environ, start_response)
                return body
            if path == "/healthz":
                why = unhealthy()
                return _answer(start_response, not why, f"unhealthy: {why}" if why else "ok")
            if path == "/readyz":
                ok = ready()
                return _answer(start_response, ok, "ok" if ok else "not ready")
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]

        host, port = parse_addr(addr)
        server_class = type("_Bounded", (_Server,), {"deadline": deadline})
        try:
            self._server: _Server = make_server(
                host, port, app, server_class=server_class, handler_class=_Quiet
            )
        except OSError as err:
            raise PermanentError(f"--metrics-addr {addr}: {err.strerror or err}") from err
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        """Connections open now (a test's view of the reaper)."""
        return self._server.connections

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _answer(start_response: Callable[..., Any], ok: bool, text: str) -> list[bytes]:
    start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
    return [text.encode() + b"\n"]
