"""Which programs a webhook may run, and how its ``cmd`` text becomes an argv.

Flagger's load tester hands ``metadata.cmd`` to ``sh -c``: anyone who can reach its
port runs anything its container can. Ours never gives ``cmd`` to a shell. The text
is split into arguments with POSIX quoting rules, so existing lines such as
``hey -m POST -d '{test: 2}' http://podinfo-canary.test:9898/echo`` keep working,
and then it is refused unless all of these hold:

1. It holds no shell syntax that a shell would have acted on: operators (``;``,
   ``&&``, ``|``, ``>``, ``&``, parentheses), ``$(...)``, backticks, ``$VAR``,
   comments, and no control characters such as newlines. Without a shell these
   would silently become literal arguments, which is never what their author meant,
   so the request gets an error that says why instead.
2. The first word is not an environment assignment (``FOO=1 sh``).
3. The program's basename is on the operator's allow-list.
4. When the program is written as a path, it resolves to the very file the
   allow-listed name resolves to on ``PATH`` (so ``/tmp/evil/hey`` is refused).

The argv that runs starts with the executable found on ``PATH``, so what was checked
is what executes.

5. For ``curl``, ``hey`` and ``ab``, no argument reads or writes a local file
   (``hey -D FILE``, ``curl -d @FILE``, ``-T FILE``, ``-o FILE``, ``file://``
   URLs, ...), and curl runs with ``--proto =http,https``: see
   :mod:`gitflagger.loadtester.arguments`.

Other allowed programs run with their arguments unchecked. Whatever is allowed, run
the load tester as an unprivileged user on a read-only root file system, as Flagger's
own deployment does, without a mounted service account token
(``automountServiceAccountToken: false``), and reachable only from Flagger.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

DEFAULT_ALLOWED = ("hey", "curl")

# Programs that run other programs: allowing one of them allows everything.
RUNS_ANYTHING = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "fish", "env", "xargs", "sudo", "su", "nohup", "nice",
     "timeout", "setsid", "stdbuf", "busybox", "python", "python3", "perl", "ruby", "node", "awk"}
)

_OPERATOR_CHARS = "();<>|&"
_EXPANSION = re.compile(r"`|\$[({A-Za-z0-9_@*#?$!-]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")


class CommandInvalid(ValueError):
    """The command cannot be run without a shell, or cannot be parsed (HTTP 400)."""


class CommandRefused(PermissionError):
    """The command is well formed but runs something the operator did not allow (HTTP 403)."""


class ArgumentRefused(CommandRefused):
    """An allowed program was given an argument that reads or writes local files (HTTP 403)."""


def split_command(cmd: str) -> list[str]:
    """Split ``cmd`` into arguments, refusing anything only a shell would understand.

    >>> split_command("hey -z 1m -m POST -d '{test: 2}' http://podinfo-canary.test:9898/")
    ['hey', '-z', '1m', '-m', 'POST', '-d', '{test: 2}', 'http://podinfo-canary.test:9898/']
    >>> try:
    ...     split_command("hey http://x/ ; rm -rf /")
    ... except CommandInvalid as err:
    ...     print(err)
    cmd contains the shell operator ';': cmd tasks run without a shell
    """
    if not cmd.strip():
        raise CommandInvalid("cmd is empty")
    control = next((c for c in cmd if (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F), None)
    if control is not None:
        raise CommandInvalid(
            f"cmd contains the control character {control!r}: cmd tasks run without a shell, on one line"
        )
    if match := _EXPANSION.search(cmd):
        raise CommandInvalid(
            f"cmd contains the shell expansion {match.group()!r}: cmd tasks run without a shell, "
            "so command substitution and variables are not supported"
        )
    lexer = shlex.shlex(cmd, posix=True, punctuation_chars=_OPERATOR_CHARS)
    lexer.whitespace_split = True
    lexer.commenters = ""  # a '#' inside a URL is a fragment, not a comment
    try:
        argv = list(lexer)
    except ValueError as err:
        raise CommandInvalid(f"cmd cannot be split into arguments: {err}") from None
    for word in argv:
        if word and all(c in _OPERATOR_CHARS for c in word):
            raise CommandInvalid(f"cmd contains the shell operator {word!r}: cmd tasks run without a shell")
        if word.startswith("#"):
            raise CommandInvalid("cmd contains a shell comment: cmd tasks run without a shell")
    if not argv:
        raise CommandInvalid("cmd is empty")
    if _ASSIGNMENT.match(argv[0]):
        raise CommandInvalid(
            f"cmd starts with the environment assignment {argv[0]!r}: cmd tasks run without a shell"
        )
    return argv


@dataclass(frozen=True)
class CommandPolicy:
    """The operator's allow-list, and how allowed names are found.

    ``search_path`` is the ``PATH`` used to find programs; ``None`` means the load
    tester's own ``PATH``. It is part of the policy, never of a request.
    """

    allowed: frozenset[str]
    search_path: str | None = None

    @classmethod
    def of(cls, names: Iterable[str], *, search_path: str | None = None) -> CommandPolicy:
        """Build a policy from plain program names, refusing paths and odd names early."""
        names = tuple(names)
        bad = [n for n in names if not _NAME.fullmatch(n)]
        if bad:
            raise ValueError(
                f"expected a program name found on PATH, not a path or pattern: {bad[0]!r}"
            )
        return cls(frozenset(names), search_path)

    def dangerous(self) -> list[str]:
        """Allowed programs that can themselves run any program (worth a startup warning)."""
        return sorted(n for n in self.allowed if n in RUNS_ANYTHING or n.startswith("python"))

    def executable(self, name: str) -> str:
        """Where ``name`` is found on the policy's ``PATH``; refuses a name not allowed or not found."""
        if name not in self.allowed:
            allowed = ", ".join(sorted(self.allowed)) or "none"
            raise CommandRefused(
                f"program {name!r} is not allowed (allowed: {allowed}); "
                f"the operator can allow it with --allow-command {name}"
            )
        found = shutil.which(name, path=self.search_path)
        if found is None:
            raise CommandRefused(f"program {name!r} is allowed but was not found on the load tester's PATH")
        return os.path.abspath(found)

    def resolve(self, argv: Sequence[str]) -> list[str]:
        """Check a split command and return the argv to execute (program as an absolute path).

        The arguments of programs with rules in :mod:`.arguments` (curl, hey, ab) are
        checked too: options that read or write local files are refused.
        """
        from gitflagger.loadtester.arguments import check_arguments, fixed_arguments  # it imports us

        program = argv[0]
        name = os.path.basename(program)
        executable = self.executable(name)
        if "/" in program and os.path.realpath(program) != os.path.realpath(executable):
            raise CommandRefused(
                f"{program!r} is not the allowed {name!r} ({executable}); give the program by name"
            )
        check_arguments(name, argv[1:])
        return [executable, *fixed_arguments(name), *argv[1:]]

    def unchecked(self) -> list[str]:
        """Allowed programs whose arguments are not checked (worth a startup warning)."""
        from gitflagger.loadtester.arguments import has_rules

        return sorted(n for n in self.allowed if not has_rules(n) and n not in RUNS_ANYTHING)

    def prepare(self, cmd: str) -> list[str]:
        """``split_command`` then ``resolve``: the whole check for one ``cmd`` text."""
        return self.resolve(split_command(cmd))
