"""``gitflagger loadtester`` as a real process: hostile spellings, operator token, task cap, slow clients.

Every test here starts the real CLI (``gitflagger loadtester``) on loopback and talks
HTTP to it; ``curl`` and ``hey`` are the real programs. The hostile table asks for a
local file in every spelling we know of and checks that the file's random content
is in no answer, no log line of the load tester, and no request that reached the
loopback target.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = "from gitflagger.cli.main import main; main()"


@dataclass
class Process:
    """A running ``gitflagger loadtester`` and every line it has logged so far."""

    proc: subprocess.Popen[str]
    url: str
    lines: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_loadtester(*args: str) -> Process:
    """Start the CLI on a free loopback port and wait for its "listening" line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "loadtester", "--listen", "127.0.0.1", "--port", "0", *args],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:
        lines.append(line.rstrip("\n"))
        entry = json.loads(line)
        if entry["msg"] == "load tester listening":
            break
    else:
        raise AssertionError(f"load tester did not start: {lines}")
    process = Process(proc, f"http://127.0.0.1:{entry['port']}", lines)

    def drain() -> None:
        assert proc.stderr is not None
        for more in proc.stderr:
            process.lines.append(more.rstrip("\n"))

    threading.Thread(target=drain, daemon=True).start()
    return process


def call(url: str, body: object = None, *, headers: dict[str, str] | None = None,
         method: str = "POST") -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def webhook(cmd: str, name: str = "podinfo", **metadata: str) -> dict[str, object]:
    return {"name": name, "namespace": "test", "checksum": "85d557f47b", "metadata": {"cmd": cmd, **metadata}}


class Target:
    """Loopback stand-in for a canary: records every request; ``/to-file`` redirects to ``file://``."""

    def __init__(self, secret_file: Path, served: bytes) -> None:
        self.requests: list[bytes] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                target.requests.append(str(self.headers).encode() + self.rfile.read(length))
                if self.path.startswith("/to-file"):
                    self.send_response(302)
                    self.send_header("Location", f"file://{secret_file}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = served if self.path == "/served" else b"ok"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass(frozen=True)
class Setting:
    server: Process
    target: Target
    secret: Path
    marker: str
    config: Path


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setting]:
    """One load tester, one target, one file whose random content must never come out."""
    tmp = tmp_path_factory.mktemp("hostile")
    marker = f"MARKER-{secrets.token_hex(16)}"
    secret = tmp / "token"
    secret.write_text(f"{marker}\n")
    config = tmp / "curlrc"
    config.write_text(f'url = "file://{secret}"\n')
    target = Target(secret, f"served-{secrets.token_hex(8)}".encode())
    server = start_loadtester("--log-level", "debug")
    try:
        yield Setting(server, target, secret, marker, config)
    finally:
        server.stop()
        target.close()


REFUSED = 403
RUNS = (200, 500)
"""The command was allowed to run; it may fail (curl exits non-zero), but reads no file."""

HOSTILE: dict[str, tuple[str, int | tuple[int, ...]]] = {
    # protocol defaults and the allow-list the load tester sets
    "--proto-default file": ("curl -s --proto-default file {secret}", REFUSED),
    "--proto-default=file": ("curl -s --proto-default=file {secret}", REFUSED),
    "--proto-def (abbreviated)": ("curl -s --proto-def file {secret}", REFUSED),
    "--proto =file": ("curl -s --proto =file file://{secret}", REFUSED),
    "--proto all": ("curl -s --proto all file://{secret}", REFUSED),
    "--proto +file": ("curl -s --proto +file file://{secret}", REFUSED),
    "--proto-redir all": ("curl -sL --proto-redir all {target}/to-file", REFUSED),
    "--next resets options": ("curl -s {target}/ --next file://{secret}", REFUSED),
    "-: resets options": ("curl -s {target}/ -: file://{secret}", REFUSED),
    "--no-globoff": ("curl -s --no-globoff fi{{l}}e://{secret}", REFUSED),
    # file: URLs, plain and globbed
    "file://": ("curl -s file://{secret}", REFUSED),
    "FILE:// upper case": ("curl -s FILE://{secret}", REFUSED),
    "file: without slashes": ("curl -s file:{secret}", REFUSED),
    "file://localhost": ("curl -s file://localhost{secret}", REFUSED),
    "fi{l}e://": ("curl -s fi{{l}}e://{secret}", REFUSED),
    "{file}://": ("curl -s '{{file}}://{secret}'", REFUSED),
    "[f-f]ile://": ("curl -s '[f-f]ile://{secret}'", REFUSED),
    "{file,http}://": ("curl -s '{{file,http}}://{secret}'", REFUSED),
    "backslash-escaped glob": ("curl -s 'fi\\{{l\\}}e://{secret}'", REFUSED),
    "--url file://": ("curl -s --url file://{secret}", REFUSED),
    "--url=fi{l}e://": ("curl -s --url=fi{{l}}e://{secret}", REFUSED),
    "after --": ("curl -s -- file://{secret}", REFUSED),
    "globbed after --": ("curl -s -- 'fi[l-l]e://{secret}'", REFUSED),
    # options that read the file into a request
    "-d @file": ("curl -s -d @{secret} {target}/", REFUSED),
    "-sd@file": ("curl -sd@{secret} {target}/", REFUSED),
    "--data-binary @file": ("curl -s --data-binary @{secret} {target}/", REFUSED),
    "--json @file": ("curl -s --json @{secret} {target}/", REFUSED),
    "-F x=@file": ("curl -s -F x=@{secret} {target}/", REFUSED),
    "-F x=<file": ("curl -s -F 'x=<{secret}' {target}/", REFUSED),
    "-H @file": ("curl -s -H @{secret} {target}/", REFUSED),
    "-T file": ("curl -s -T {secret} {target}/", REFUSED),
    "--upload (abbreviated)": ("curl -s --upload {secret} {target}/", REFUSED),
    "-b cookie file": ("curl -s -b {secret} {target}/", REFUSED),
    "-K config naming file://": ("curl -s -K {config}", REFUSED),
    "--config=": ("curl -s --config={config}", REFUSED),
    "hey -D file": ("hey -n 1 -m POST -D {secret} {target}/", REFUSED),
    "hey file://": ("hey -n 1 file://{secret}", REFUSED),
    # allowed to run, harmless: curl itself refuses, or never sees a file
    "redirect to file://": ("curl -sL {target}/to-file", RUNS),
    "proxy file://": ("curl -s -x file://{secret} {target}/", RUNS),
    "bare path": ("curl -s {secret}", RUNS),
    "percent-encoded braces": ("curl -s {target}/fi%7Bl%7De", RUNS),
}


@pytest.mark.parametrize(("cmd", "status"), HOSTILE.values(), ids=HOSTILE.keys())
def test_no_spelling_returns_a_local_file(setting: Setting, cmd: str, status: int | tuple[int, ...]) -> None:
    text = cmd.format(secret=setting.secret, target=setting.target.url, config=setting.config)
    logged, sent = len(setting.server.lines), len(setting.target.requests)
    got, body = call(setting.server.url + "/", webhook(text, blocking="true", returnCmdOutput="true",
                                                       logCmdOutput="true"))
    time.sleep(0.1)  # let the log reader catch up with lines written before the answer
    assert setting.marker not in body, "the file's content is in the answer"
    assert not any(setting.marker in line for line in setting.server.lines[logged:]), "... in the log"
    assert not any(setting.marker.encode() in r for r in setting.target.requests[sent:]), "... sent out"
    assert got in (status if isinstance(status, tuple) else (status,)), body
    if got == REFUSED:
        assert "cmd tasks may not read or write local files" in body


def test_the_hostile_table_would_see_a_leak(setting: Setting) -> None:
    """The control: output a command fetched does reach the answer and the log, so a leak would show."""
    served = b"served-"
    status, body = call(setting.server.url + "/", webhook(
        f"curl -s {setting.target.url}/served", blocking="true", returnCmdOutput="true", logCmdOutput="true"))
    assert status == 200 and body.startswith(served.decode())
    eventually(lambda: body in setting.server.log(), "the command output in the log")  # logged a moment later
    assert len(HOSTILE) >= 30


def _token_file(tmp_path: Path, token: str) -> Path:
    path = tmp_path / "operator-token"
    path.write_text(token + "\n")
    return path


def test_operator_endpoints_need_the_token_from_the_file(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    server = start_loadtester("--operator-token-file", str(_token_file(tmp_path, token)))
    canary = {"name": "podinfo", "namespace": "test"}
    try:
        for path in ("/gate/open", "/gate/close", "/rollback/open", "/rollback/close"):
            assert call(server.url + path, canary)[0] == 401
            assert call(server.url + path, canary, headers={"Authorization": "Bearer nope"})[0] == 403
            assert call(server.url + path, canary, headers={"Authorization": f"Basic {token}"})[0] == 401
        assert call(server.url + "/gate/check", canary)[0] == 403
        assert call(server.url + "/gate/open", canary, headers={"Authorization": f"Bearer {token}"})[0] == 202
        assert call(server.url + "/gate/check", canary) == (200, "Approved\n")  # checks need no token
        assert call(server.url + "/rollback/check", canary)[0] == 403
        assert token not in server.log()
    finally:
        server.stop()


def test_without_a_token_operator_endpoints_are_refused_unless_opted_out(tmp_path: Path) -> None:
    canary = {"name": "podinfo", "namespace": "test"}
    closed = start_loadtester()
    try:
        status, body = call(closed.url + "/gate/open", canary)
        assert (status, body) == (403, "/gate/open is disabled: the load tester was started without "
                                       "--operator-token-file\n")
        assert call(closed.url + "/gate/check", canary)[0] == 403
    finally:
        closed.stop()
    open_ = start_loadtester("--insecure-open-gates")
    try:
        warnings = [json.loads(line) for line in open_.lines if '"warning"' in line]
        assert any("--insecure-open-gates" in w["msg"] for w in warnings)
        assert call(open_.url + "/gate/open", canary)[0] == 202
        assert call(open_.url + "/gate/check", canary)[0] == 200
    finally:
        open_.stop()
    both = subprocess.run(
        [sys.executable, "-c", CLI, "loadtester", "--insecure-open-gates",
         "--operator-token-file", str(_token_file(tmp_path, "x"))],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert both.returncode == 2 and "exclude each other" in both.stderr


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] not in {"Z", "X"}:
                out.append(int(entry.name))
    return out


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_max_tasks_caps_the_processes_started(tmp_path: Path) -> None:
    target = Target(tmp_path / "none", b"")
    server = start_loadtester("--max-tasks", "2")
    try:
        cmds = [f"hey -z 60s -q 1 -c 1 {target.url}/{i}" for i in range(8)]
        answers = [call(server.url + "/", webhook(cmd))[0] for cmd in cmds]
        assert answers == [202, 202] + [429] * 6
        eventually(lambda: len(_children(server.proc.pid)) == 2, "two hey processes")
        time.sleep(0.5)  # nothing else may start late
        assert len(_children(server.proc.pid)) == 2
    finally:
        server.stop()
        target.close()


def _trickle(url: str, stop: threading.Event) -> socket.socket:
    """A client that sends one header byte a second and never finishes its request."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")

    def drip() -> None:
        with sock:
            while not stop.wait(1.0):
                try:
                    sock.sendall(b"X")
                except OSError:
                    return

    threading.Thread(target=drip, daemon=True).start()
    return sock


def test_a_trickling_client_is_cut_off_after_10s() -> None:
    server = start_loadtester()
    stop = threading.Event()
    try:
        started = time.monotonic()
        sock = _trickle(server.url, stop)
        assert call(server.url + "/healthz", method="GET") == (200, "OK\n")  # others are served meanwhile
        data = sock.recv(1024)  # returns b"" when the server closes the connection
        elapsed = time.monotonic() - started
        assert data == b""
        assert 9.0 <= elapsed < 15.0, elapsed
        eventually(lambda: "client too slow: connection closed" in server.log(), "the log line")
    finally:
        stop.set()
        server.stop()


def test_sigterm_ends_within_5s_despite_a_trickling_client_and_a_running_task(tmp_path: Path) -> None:
    target = Target(tmp_path / "none", b"")
    server = start_loadtester()
    stop = threading.Event()
    try:
        assert call(server.url + "/", webhook(f"hey -z 600s -q 1 -c 1 {target.url}/"))[0] == 202
        eventually(lambda: len(_children(server.proc.pid)) == 1, "hey to start")
        _trickle(server.url, stop)
        time.sleep(0.5)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=30) == 0
        elapsed = time.monotonic() - started
        assert elapsed < 5.0, elapsed
    finally:
        stop.set()
        server.stop()
        target.close()
