"""``gitflagger dashboard``: a read-only web UI of the Canaries, live from the cluster or from git.

Only ``GET`` and ``HEAD`` exist; every other method is refused with 405, so the
dashboard can never change a Canary, a commit or anything else. It binds to
loopback by default and then answers only requests whose ``Host`` is a
loopback name (a web page elsewhere cannot reach it by DNS rebinding). To show
it to others, put it behind ``kubectl port-forward`` or an authenticating
proxy rather than on an open address: it has no login of its own.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import click

from gitflagger.adapters.git import RepoSettings
from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.config import find_cluster
from gitflagger.cli.dashboard_state import Board
from gitflagger.cli.kube_flags import kube_flags
from gitflagger.cli.repo_options import REPO_EPILOG, repo_options
from gitflagger.errors import GitflaggerError
from gitflagger.render.report.live import PAGE, SCRIPT

_REPORT = re.compile(r"^/report/([^/]+)/([^/]+)$")
_STEP = re.compile(r"^/step/([^/]+)/([^/]+)/([0-9a-f]{7,40})$")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_CSP_PAGE = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'"
_CSP_REPORT = "default-src 'none'; style-src 'unsafe-inline'"


def parse_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:3100``, ``[::1]:3100``, ``:3100`` (loopback) → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"expected HOST:PORT, got {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "gitflagger-dashboard"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve(body=True)

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def _refuse(self) -> None:
        self._send(405, "text/plain; charset=utf-8", b"read-only: only GET and HEAD\n", True,
                   extra={"Allow": "GET, HEAD"})

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _refuse

    def _serve(self, body: bool) -> None:
        if self.server.loopback_only and not self._loopback_host():
            self._send(403, "text/plain; charset=utf-8", b"this dashboard answers to loopback names only\n",
                       body)
            return
        url = urlsplit(self.path)
        board = self.server.board
        try:
            if url.path == "/":
                self._send(200, "text/html; charset=utf-8", PAGE.encode(), body, csp=_CSP_PAGE)
            elif url.path == "/app.js":
                self._send(200, "text/javascript; charset=utf-8", SCRIPT.encode(), body)
            elif url.path == "/api/canaries":
                self._send(200, "application/json", json.dumps(board.canaries()).encode(), body)
            elif url.path == "/healthz":
                self._send(200, "text/plain; charset=utf-8", b"ok\n", body)
            elif (match := _REPORT.match(url.path)) is not None:
                which = (parse_qs(url.query).get("rollout") or ["latest"])[0]
                if which not in ("latest", "all") and not which.isdigit():
                    self._send(400, "text/plain; charset=utf-8", b"rollout: latest, all or a number\n", body)
                    return
                page = board.report(unquote(match.group(1)), unquote(match.group(2)), which)
                self._send(200, "text/html; charset=utf-8", page.encode(), body, csp=_CSP_REPORT)
            elif (match := _STEP.match(url.path)) is not None:
                page = board.step(unquote(match.group(1)), unquote(match.group(2)), match.group(3))
                self._send(200, "text/html; charset=utf-8", page.encode(), body, csp=_CSP_REPORT)
            else:
                self._send(404, "text/plain; charset=utf-8", b"not found\n", body)
        except GitflaggerError as err:
            self._send(404, "text/plain; charset=utf-8", f"{err}\n".encode(), body)

    def _loopback_host(self) -> bool:
        host = (self.headers.get("Host") or "").strip()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name.strip("[]") in _LOOPBACK_NAMES or is_loopback(name.strip("[]"))

    def _send(self, code: int, kind: str, data: bytes, body: bool, csp: str = "",
              extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        if csp:
            self.send_header("Content-Security-Policy", csp)
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per request would drown the terminal every two seconds."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], board: Board) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.board = board
        self.loopback_only = is_loopback(address[0])


def serve(board: Board, host: str, port: int) -> _Server:
    """Start serving in a thread; the caller stops it with ``shutdown()``."""
    server = _Server((host, port), board)
    threading.Thread(target=server.serve_forever, name="dashboard", daemon=True).start()
    return server


@click.command(epilog=f"""\b
Examples:
  gitflagger dashboard --repo ./config.git          # live from the cluster kubectl reaches, else git alone
  gitflagger dashboard --repo ./config.git --kubeconfig ~/.kube/config -n test
  kubectl -n gitflagger-system port-forward deploy/gitflagger-dashboard 3100   # see the README

\b
Read-only: only GET. It binds to 127.0.0.1 by default and has no login:
expose it through kubectl port-forward or an authenticating proxy.

{REPO_EPILOG}""")
@repo_options(help_repo="The config repo the controller records into.")
@kube_flags
@click.option("--namespace", "-n", default=None, help="One namespace (all when omitted).")
@click.option("--listen", default="127.0.0.1:3100", show_default=True, metavar="HOST:PORT",
              help="Where to serve. Anything but loopback needs a proxy in front: there is no login.")
def dashboard(
    repo: RepoSettings, kubeconfig: str | None, kube_context: str | None, namespace: str | None, listen: str
) -> None:
    """Serve a read-only web page of every Canary: phase, weight, last step, and each rollout's report."""
    host, port = parse_listen(listen)
    source = find_cluster(kubeconfig, kube_context, required=False)  # none found: from git alone
    kube = KubeCluster.from_source(source) if source is not None else None
    board = Board(repo, kube, namespace)
    board.canaries()  # a wrong --repo fails now, in one line, not in the browser
    board.start()
    server = serve(board, host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"dashboard: http://{shown}:{server.server_address[1]}/ (read-only; Ctrl-C stops)")
    if not is_loopback(host):
        click.echo("warning: not loopback: anyone who reaches this address can read every Canary", err=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        board.stop()
        if kube is not None:
            kube.close()
