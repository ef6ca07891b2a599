"""The ``gitflagger`` command: a click group, and the one place errors become exit codes.

Every failure reaches the user as one line on stderr, ``error: …``, never as a
traceback: exit code 2 for a usage mistake (click's own convention), 1 for
everything else. Commands raise :class:`~gitflagger.errors.GitflaggerError`
(or let click raise its usage errors) and never print errors themselves.
``GITFLAGGER_DEBUG=1`` re-raises an unexpected exception, for developers.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from gitflagger import __version__
from gitflagger.cli.completion import completion
from gitflagger.cli.control import abort, promote, retry
from gitflagger.cli.dashboard import dashboard
from gitflagger.cli.get import get
from gitflagger.cli.history import history
from gitflagger.cli.metrics import metrics
from gitflagger.cli.report import report
from gitflagger.cli.run import reconcile, run
from gitflagger.cli.simulate import simulate
from gitflagger.cli.status import status
from gitflagger.errors import GitflaggerError
from gitflagger.loadtester.cli import loadtester_command
from gitflagger.model.redact import redact_text

USAGE_ERROR = 2
FAILURE = 1


class _Gitflagger(click.Group):
    """A group whose ``main`` turns every error into one line, for the console script and CliRunner alike."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        code = _run(self, args, prog_name or "gitflagger", complete_var, windows_expand_args, extra)
        if standalone_mode:
            sys.exit(code)
        return code


def _run(
    group: click.Group,
    args: Sequence[str] | None,
    prog_name: str,
    complete_var: str | None,
    windows_expand_args: bool,
    extra: dict[str, Any],
) -> int:
    try:
        result = click.Group.main(
            group,
            args,
            prog_name,
            complete_var,
            standalone_mode=False,
            windows_expand_args=windows_expand_args,
            **extra,
        )
    except click.exceptions.NoArgsIsHelpError as err:
        # A bare group (`gitflagger`, `gitflagger get`) asks for its help: print it, as --help does.
        click.echo(err.ctx.get_help() if err.ctx is not None else err.format_message())
        return 0
    except click.UsageError as err:
        return _fail(err.format_message(), USAGE_ERROR)
    except click.ClickException as err:
        return _fail(err.format_message(), err.exit_code)
    except click.Abort:
        return _fail("aborted", FAILURE)
    except GitflaggerError as err:
        return _fail(str(err), FAILURE)
    except OSError as err:
        where = f"{err.filename}: " if err.filename else ""
        return _fail(f"{where}{err.strerror or err}", FAILURE)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as err:
        if os.environ.get("GITFLAGGER_DEBUG"):
            raise
        return _fail(f"internal error: {type(err).__name__}: {err} (GITFLAGGER_DEBUG=1 shows where)", FAILURE)
    return result if isinstance(result, int) else 0


def _fail(message: str, code: int) -> int:
    click.echo("error: " + redact_text(" ".join(message.split())), err=True)  # it may quote a URL
    return code


@click.group(
    "gitflagger",
    cls=_Gitflagger,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  gitflagger simulate canary.yaml deployment.yaml --timeline promote.yaml --repo ./config.git
  gitflagger history test/podinfo --repo ./config.git
""",
)
@click.version_option(__version__, "--version", prog_name="gitflagger")
def cli() -> None:
    """Progressive delivery for Kubernetes and Istio that records every rollout step in git."""


cli.add_command(simulate)
cli.add_command(history)
cli.add_command(run)
cli.add_command(reconcile)
cli.add_command(get)
cli.add_command(promote)
cli.add_command(abort)
cli.add_command(retry)
cli.add_command(loadtester_command, name="loadtester")
cli.add_command(completion)
cli.add_command(report)
cli.add_command(status)
cli.add_command(dashboard)
cli.add_command(metrics)


def main() -> None:
    """The console script ``gitflagger``."""
    cli.main(prog_name="gitflagger")
