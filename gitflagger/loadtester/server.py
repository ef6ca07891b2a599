"""The HTTP side: a threading server that moves bytes to and from :class:`~.api.LoadTester`.

The standard library's :class:`~http.server.ThreadingHTTPServer` is enough here: the
load is a handful of webhook calls per analysis interval, and a thread per request
lets a blocking task (``type: bash``) wait without holding up gate checks. Handler
threads are not daemons, so :meth:`LoadTesterServer.stop` can shut down gracefully:

1. stop accepting connections;
2. stop running tasks (SIGTERM to each process group, SIGKILL after the grace
   period), which also ends requests waiting on a blocking task;
3. wait for in-flight requests to finish answering.

Slow clients cannot hold a thread: a request's line, headers and body must arrive
within ``request_timeout`` (10 s) of the first byte being awaited, or the
connection is closed. An idle keep-alive connection gets the same 10 s. On stop,
connections that are still reading a request are closed at once, so a client that
trickles bytes does not delay shutdown.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from gitflagger.loadtester.api import LoadTester, Response

MAX_BODY = 1024 * 1024
REQUEST_TIMEOUT = 10.0
"""Seconds a client has to send a whole request (line, headers, body)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # join in-flight requests on close
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: LoadTester, request_timeout: float) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.request_timeout = request_timeout
        self.reading: set[_Handler] = set()
        """Handlers waiting for (part of) a request: closed at once on stop."""
        self.lock = threading.Lock()
        self.stopping = False
        super().__init__(address, _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        """A dropped or timed-out connection is routine: one debug line, not a traceback on stderr."""
        self.app.log.debug("connection ended with an error", client=str(client_address))

    def close_readers(self) -> None:
        """Refuse new requests on open connections and close those waiting for a request."""
        with self.lock:
            self.stopping = True
            readers = list(self.reading)
        for handler in readers:
            handler.drop()


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = REQUEST_TIMEOUT  # per read; the whole request has its own deadline (handle_one_request)
    server_version = "gitflagger-loadtester"

    def handle_one_request(self) -> None:
        """One request, which must arrive in full before the server's ``request_timeout``."""
        server = self.server
        with server.lock:
            if server.stopping:
                self.close_connection = True
                return
            server.reading.add(self)
        self._expired = False
        self._timer = threading.Timer(server.request_timeout, self._expire)
        self._timer.daemon = True
        self._timer.start()
        try:
            super().handle_one_request()
        finally:
            self._received()

    def _received(self) -> None:
        """The request has been read (or never will be): no deadline, not closed on stop."""
        self._timer.cancel()
        with self.server.lock:
            self.server.reading.discard(self)

    def _expire(self) -> None:
        with self.server.lock:
            if self not in self.server.reading:
                return
        self._expired = True
        self.server.app.log.info("client too slow: connection closed", client=self.client_address[0],
                                 seconds=self.server.request_timeout)
        self.drop()

    def drop(self) -> None:
        """Close the connection under a reader blocked on it (its read then returns at once)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch(send_body=False)

    def _dispatch(self, *, send_body: bool = True) -> None:
        app = self.server.app
        body, response = self._read_body()
        self._received()
        if self._expired:
            return
        if response is None:
            try:
                response = app.handle(urlsplit(self.path).path, body, self.headers.get("Authorization"))
            except Exception as err:  # a bug must answer 500, not drop the connection
                app.log.error("request failed", path=self.path, error=repr(err))
                response = Response.text(500, "internal error")
        else:
            self.close_connection = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if send_body:
            self.wfile.write(response.body)

    def _read_body(self) -> tuple[bytes, Response | None]:
        """The request body, or the error to answer instead. Bodies are capped at MAX_BODY."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return b"", Response.text(400, "invalid Content-Length")
        if length > MAX_BODY:
            return b"", Response.text(413, f"request body larger than {MAX_BODY} bytes")
        return self.rfile.read(length), None

    def _read_chunked(self) -> tuple[bytes, Response | None]:
        """Decode ``Transfer-Encoding: chunked`` (clients such as curl send it for streamed bodies)."""
        body = bytearray()
        while True:
            line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                return b"", Response.text(400, "invalid chunked body")
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers, ignored
                return bytes(body), None
            if len(body) + size > MAX_BODY:
                return b"", Response.text(413, f"request body larger than {MAX_BODY} bytes")
            body += self.rfile.read(size)
            self.rfile.readline(1024)

    def log_message(self, format: str, *args: object) -> None:
        """Access and error lines as JSON at debug level, instead of plain text on stderr."""
        self.server.app.log.debug("http", client=self.client_address[0], line=format % args)


class LoadTesterServer:
    """A bound, not yet serving, HTTP server for one :class:`LoadTester`."""

    def __init__(self, app: LoadTester, *, host: str = "0.0.0.0", port: int = 8080,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.app = app
        self._httpd = _HTTPServer((host, port), app, request_timeout)
        self._serving: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> threading.Thread:
        """Serve in a background thread and return it."""
        self._serving = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="loadtester-http"
        )
        self._serving.start()
        return self._serving

    def stop(self, *, grace: float = 10.0) -> None:
        """Graceful shutdown: stop accepting, drop half-sent requests, stop tasks, finish the rest."""
        if self._serving is not None:
            self._httpd.shutdown()
            self._serving.join()
            self._serving = None
        self._httpd.close_readers()
        self.app.stop(grace=grace)
        self._httpd.server_close()
