"""The HTTP side: a threading server that moves bytes to and from :class:`~.api.LoadTester`.

The standard library's :class:`~http.server.ThreadingHTTPServer` is enough here: the
load is a handful of webhook calls per analysis interval, and a thread per request
lets a blocking task (``type: bash``) wait without holding up gate checks. Handler
threads are not daemons, so :meth:`LoadTesterServer.stop` can shut down gracefully:

1. stop accepting connections;
2. stop running tasks (SIGTERM to each process group, SIGKILL after the grace
   period), which also ends requests waiting on a blocking task;
3. wait for in-flight requests to finish answering.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from gitflagger.loadtester.api import LoadTester, Response

MAX_BODY = 1024 * 1024


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = False  # join in-flight requests on close
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: LoadTester) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = 30  # seconds a client may take to send its request (Flagger sends it at once)
    server_version = "gitflagger-loadtester"

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
        if response is None:
            try:
                response = app.handle(urlsplit(self.path).path, body)
            except Exception as err:  # a bug must answer 500, not drop the connection
                app.log.error("request failed", path=self.path, error=repr(err))
                response = Response.text(500, "internal error")
        else:
            self.close_connection = True
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
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

    def __init__(self, app: LoadTester, *, host: str = "0.0.0.0", port: int = 8080) -> None:
        self.app = app
        self._httpd = _HTTPServer((host, port), app)
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
        """Graceful shutdown: stop accepting, stop tasks, finish in-flight requests."""
        if self._serving is not None:
            self._httpd.shutdown()
            self._serving.join()
            self._serving = None
        self.app.stop(grace=grace)
        self._httpd.server_close()
