"""The controller's HTTP endpoint: ``/metrics``, ``/healthz`` and ``/readyz``.

``/healthz`` answers 200 while the process is able to work (a wedged
controller is restarted by the kubelet); ``/readyz`` answers 200 once the
first list of Canaries succeeded. Serving runs on a daemon thread with its own
small WSGI server, so a slow scrape never delays a step.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from gitflagger.errors import PermanentError


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line each
        pass


def parse_addr(addr: str) -> tuple[str, int]:
    """``":8080"`` → ``("0.0.0.0", 8080)``; ``"127.0.0.1:0"`` picks a free port."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise PermanentError(f"--metrics-addr must be [HOST]:PORT, got {addr!r}")
    return host or "0.0.0.0", int(port)


class Endpoint:
    """A running HTTP endpoint; :attr:`port` is the bound port (useful with port 0)."""

    def __init__(
        self,
        addr: str,
        registry: CollectorRegistry,
        *,
        ready: Callable[[], bool],
        healthy: Callable[[], bool] = lambda: True,
    ) -> None:
        metrics = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/metrics":
                body: Iterable[bytes] = metrics(environ, start_response)
                return body
            if path in ("/healthz", "/readyz"):
                ok = healthy() if path == "/healthz" else ready()
                status = "200 OK" if ok else "503 Service Unavailable"
                start_response(status, [("Content-Type", "text/plain")])
                return [b"ok\n" if ok else b"not ready\n"]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]

        host, port = parse_addr(addr)
        try:
            self._server: WSGIServer = make_server(host, port, app, handler_class=_Quiet)
        except OSError as err:
            raise PermanentError(f"--metrics-addr {addr}: {err.strerror or err}") from err
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
