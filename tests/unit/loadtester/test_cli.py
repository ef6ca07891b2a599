"""The command's options: help with examples, and one clear line for every bad value."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.loadtester.cli import loadtester_command


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(loadtester_command, list(args))
    return result.exit_code, result.output


def test_help_lists_the_options_and_examples() -> None:
    code, output = _run("--help")
    assert code == 0
    output = " ".join(output.split())  # the help is wrapped to the terminal's width
    for text in ("--allow-command NAME", "--enable-bash", "--timeout DURATION", "--gate-repo",
                 "[default: 8080", "[default: 1h]", "Examples:", "gitflagger loadtester --allow-command hey",
                 "approvals/<namespace>/<name>/<checksum>", "--operator-token-file FILE",
                 "with neither it nor --insecure-open-gates they are refused",
                 "--insecure-open-gates", "--max-tasks", "default: 16", "429 Too Many Requests"):
        assert text in output, text


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--allow-command", "/bin/sh"], "Invalid value for --allow-command: expected a program name"),
        (["--timeout", "1x"], 'invalid duration "1x"'),
        (["--timeout", "0"], "must be more than 0"),
        (["--gate-branch", "main"], "--gate-branch needs --gate-repo"),
        (["--namespace-regexp", "("], "invalid regular expression"),
        (["--port", "70000"], "Invalid value for '--port'"),
    ],
    ids=["path in allow-list", "bad timeout", "zero timeout", "branch without repo", "bad regexp",
         "bad port"],
)
def test_bad_options_fail_before_serving(args: list[str], complaint: str) -> None:
    code, output = _run(*args)
    assert code == 2
    assert complaint in output
    assert "Traceback" not in output


def test_gate_repo_must_be_readable_at_startup(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    code, output = _run("--gate-repo", str(tmp_path), "--gate-branch", "main")
    assert code == 2
    assert "Invalid value for --gate-repo" in output and "has no branch 'main'" in output


def test_a_busy_port_is_one_clear_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = _run("--listen", "127.0.0.1", "--port", str(port))
    assert code == 1
    assert output.strip() == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"


@pytest.mark.parametrize(
    ("content", "complaint"),
    [(None, "No such file or directory"), ("", "is empty"), ("  \n", "is empty"),
     ("two words", "one line of printable ASCII"), ("x" * 5000, "at most 4096 bytes")],
    ids=["missing", "empty", "blank", "space inside", "too long"],
)
def test_a_bad_operator_token_file_fails_before_serving(tmp_path: Path, content: str | None,
                                                        complaint: str) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    code, output = _run("--operator-token-file", str(path), "--port", "0", "--listen", "127.0.0.1")
    assert code == 2 and "Invalid value for --operator-token-file" in output and complaint in output
    assert "Traceback" not in output
