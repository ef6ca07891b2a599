"""What a ``cmd`` may run: Flagger's quoting still works, shell syntax and other programs never do."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from gitflagger.loadtester.commands import CommandInvalid, CommandPolicy, CommandRefused, split_command

HEY = shutil.which("hey")
POLICY = CommandPolicy.of(["hey", "curl"])


@pytest.mark.parametrize(
    ("cmd", "argv"),
    [
        ("hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
         ["hey", "-z", "1m", "-q", "10", "-c", "2", "http://podinfo-canary.test:9898/"]),
        ("hey -z 1m -q 10 -c 2 -m POST -d '{test: 2}' http://podinfo-canary.test:9898/echo",
         ["hey", "-z", "1m", "-q", "10", "-c", "2", "-m", "POST", "-d", "{test: 2}",
          "http://podinfo-canary.test:9898/echo"]),
        ("curl -s 'http://x/?a=1&b=2'", ["curl", "-s", "http://x/?a=1&b=2"]),
        ('curl -H "X-Note: a;b|c (d)" http://x/#frag', ["curl", "-H", "X-Note: a;b|c (d)", "http://x/#frag"]),
        ("hey\t-n 1 http://x/", ["hey", "-n", "1", "http://x/"]),
    ],
    ids=["flagger get example", "flagger post example", "quoted ampersand", "quoted metacharacters", "tab"],
)
def test_split_keeps_flagger_quoting(cmd: str, argv: list[str]) -> None:
    assert split_command(cmd) == argv


@pytest.mark.parametrize(
    ("cmd", "complaint"),
    [
        ("hey; rm -rf /tmp/x", "shell operator ';'"),
        ("hey http://x/ && touch /tmp/x", "shell operator '&&'"),
        ("hey http://x/ || touch /tmp/x", "shell operator '||'"),
        ("hey http://x/ | sh", "shell operator '|'"),
        ("hey http://x/ & touch /tmp/x", "shell operator '&'"),
        ("curl http://x/?a=1&b=2", "shell operator '&'"),
        ("hey http://x/ > /etc/passwd", "shell operator '>'"),
        ("hey < /etc/passwd", "shell operator '<'"),
        ("(touch /tmp/x)", "shell operator '('"),
        ("hey $(touch /tmp/pwned)", "shell expansion '$('"),
        ('hey "$(touch /tmp/pwned)"', "shell expansion '$('"),
        ("hey `touch /tmp/pwned`", "shell expansion '`'"),
        ("hey $HOME", "shell expansion '$H'"),
        ("hey ${IFS}x", "shell expansion '${'"),
        ("hey http://x/\ntouch /tmp/pwned", "control character '\\n'"),
        ("hey http://x/\rtouch /tmp/pwned", "control character '\\r'"),
        ("hey\x00sh", "control character '\\x00'"),
        ("FOO=1 sh -c id", "environment assignment 'FOO=1'"),
        ("hey http://x/ # ignore the rest", "shell comment"),
        ("hey 'http://x/", "cannot be split into arguments"),
        ("   ", "cmd is empty"),
    ],
    ids=[
        "semicolon", "and", "or", "pipe", "background", "unquoted ampersand in url", "redirect out",
        "redirect in", "subshell", "command substitution", "quoted substitution", "backticks",
        "variable", "braced variable", "newline", "carriage return", "nul", "env assignment",
        "comment", "unbalanced quote", "blank",
    ],
)
def test_shell_syntax_is_refused_not_passed_on(cmd: str, complaint: str) -> None:
    with pytest.raises(CommandInvalid) as err:
        POLICY.prepare(cmd)
    assert complaint in str(err.value)


@pytest.mark.parametrize(
    "cmd",
    ["sh -c id", "/bin/sh -c id", "../../bin/sh -c id", "bash -c id", "env hey", "rm -rf /tmp/x",
     "python3 -c 'import os'", "hey/ -n 1", "./hey.sh"],
    ids=["sh", "sh by path", "sh by relative path", "bash", "env", "rm", "python", "trailing slash",
         "lookalike"],
)
def test_programs_off_the_allow_list_are_refused(cmd: str) -> None:
    with pytest.raises(CommandRefused, match="is not allowed"):
        POLICY.prepare(cmd)


def test_allowed_program_runs_from_its_path_entry() -> None:
    assert HEY is not None, "hey is installed from Debian in the dev image"
    assert POLICY.prepare("hey -n 1 http://x/") == [HEY, "-n", "1", "http://x/"]


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_path_must_be_the_allowed_program_itself(tmp_path: Path) -> None:
    real = _executable(tmp_path / "bin" / "hey")
    evil = _executable(tmp_path / "evil" / "hey")
    policy = CommandPolicy.of(["hey"], search_path=str(tmp_path / "bin"))

    assert policy.prepare(f"{real} -n 1") == [str(real), "-n", "1"]
    assert policy.prepare(f"{tmp_path}/evil/../bin/hey -n 1")[0] == str(real)
    with pytest.raises(CommandRefused, match="is not the allowed 'hey'"):
        policy.prepare(f"{evil} -n 1")
    with pytest.raises(CommandRefused, match="is not the allowed 'hey'"):
        policy.prepare("./hey -n 1")


def test_a_symlink_to_the_allowed_program_is_the_same_program(tmp_path: Path) -> None:
    real = _executable(tmp_path / "bin" / "hey")
    (tmp_path / "links").mkdir()
    os.symlink(real, tmp_path / "links" / "hey")
    policy = CommandPolicy.of(["hey"], search_path=str(tmp_path / "bin"))
    assert policy.prepare(f"{tmp_path}/links/hey")[0] == str(real)


def test_allowed_but_missing_program_is_refused(tmp_path: Path) -> None:
    policy = CommandPolicy.of(["ghz"], search_path=str(tmp_path))
    with pytest.raises(CommandRefused, match="not found on the load tester's PATH"):
        policy.prepare("ghz --insecure podinfo.test:9898")


@pytest.mark.parametrize("name", ["/bin/sh", "bin/hey", "", "two words", "*", "-rf", ".."])
def test_allow_list_takes_plain_names_only(name: str) -> None:
    with pytest.raises(ValueError, match="expected a program name"):
        CommandPolicy.of([name])


def test_programs_that_run_anything_are_flagged() -> None:
    assert CommandPolicy.of(["hey", "env", "sh", "python3.12"]).dangerous() == ["env", "python3.12", "sh"]
