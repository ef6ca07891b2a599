"""``gitflagger dashboard`` from git alone: its JSON, report and step views, and that it changes nothing."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.git import RemoteConfig, RepoSettings
from gitflagger.cli.dashboard import dashboard, parse_listen, serve
from gitflagger.cli.dashboard_state import Board
from tests.unit.cli.test_simulate_cli import simulate_json


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    repo = tmp_path / "config.git"
    simulate_json(repo, "rollback")
    board = Board(RepoSettings(RemoteConfig(url=str(repo))), None, None)
    server = serve(board, "127.0.0.1", 0)
    try:
        yield server.server_address[1], repo
    finally:
        server.shutdown()
        server.server_close()


def request(port: int, method: str, path: str, host: str = "") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {"Host": host} if host else {}
        payload = b"{}" if method in ("POST", "PUT", "PATCH") else None
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def head(repo: Path) -> str:
    return str(pygit2.Repository(str(repo)).references["refs/heads/main"].target)


def test_the_canaries_from_git(served: tuple[int, Path]) -> None:
    port, repo = served
    code, headers, body = request(port, "GET", "/api/canaries")
    assert code == 200 and headers["content-type"] == "application/json"
    data = json.loads(body)
    assert data["source"] == f"from git: {repo} (main)"
    (row,) = data["canaries"]
    assert (row["namespace"], row["name"], row["phase"], row["canaryWeight"], row["failedChecks"]) == (
        "test", "podinfo", "Failed", 0, 5)
    assert row["lastStep"] == "podinfo.test: rollback, failed checks threshold reached 5"
    assert row["lastCommit"] == head(repo)


def test_the_page_its_script_the_report_and_a_step(served: tuple[int, Path]) -> None:
    port, repo = served
    code, headers, page = request(port, "GET", "/")
    assert code == 200 and b'<script src="/app.js"></script>' in page
    assert headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")
    code, _, script = request(port, "GET", "/app.js")
    assert code == 200 and b"textContent" in script and b"innerHTML" not in script
    code, headers, report = request(port, "GET", "/report/test/podinfo")
    assert code == 200 and b'data-series="canary"' in report and b"<script" not in report
    assert "script-src" not in headers["content-security-policy"]  # the report runs no script at all
    assert request(port, "GET", "/report/test/podinfo?rollout=all")[2].count(b'class="rollout"') == 2
    code, _, step = request(port, "GET", f"/step/test/podinfo/{head(repo)[:12]}")
    assert code == 200 and b"<details open" in step and b"+  phase: Failed" in step
    assert request(port, "GET", "/report/test/nope")[0] == 404
    assert request(port, "GET", "/step/test/podinfo/0000000")[0] == 404
    assert request(port, "GET", "/etc/passwd")[0] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_every_method_that_could_change_something_is_refused(served: tuple[int, Path], method: str) -> None:
    port, repo = served
    before = head(repo)
    for path in ("/", "/api/canaries", "/report/test/podinfo"):
        code, headers, _ = request(port, method, path)
        assert (code, headers["allow"]) == (405, "GET, HEAD")
    assert head(repo) == before


def test_a_foreign_host_name_is_refused_on_loopback(served: tuple[int, Path]) -> None:
    """A page elsewhere that rebinds its own name to 127.0.0.1 gets nothing."""
    port, _ = served
    assert request(port, "GET", "/api/canaries", host=f"evil.example:{port}")[0] == 403
    assert request(port, "GET", "/api/canaries", host=f"localhost:{port}")[0] == 200


def test_it_binds_to_loopback_by_default() -> None:
    (listen,) = [p for p in dashboard.params if p.name == "listen"]
    assert listen.default == "127.0.0.1:3100"
    assert parse_listen("127.0.0.1:3100") == ("127.0.0.1", 3100)
    assert parse_listen(":8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:3100") == ("::1", 3100)
