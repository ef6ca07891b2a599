"""``gitflagger loadtester``: the click command that serves Flagger's load tester API.

The command object is :data:`loadtester_command`; the ``gitflagger`` CLI registers it.
Its options mirror Flagger's ``loadtester`` binary where one exists (``--port``,
``--timeout`` as a Go duration, ``--namespace-regexp``) and add the security and git
options. It logs JSON lines on stderr and stops gracefully on SIGTERM or SIGINT.
"""

from __future__ import annotations

import re
import signal
import threading
from dataclasses import replace
from types import FrameType

import click

from gitflagger.loadtester.api import LoadTester, LoadTesterConfig
from gitflagger.loadtester.commands import DEFAULT_ALLOWED, CommandPolicy
from gitflagger.loadtester.gates import GateRepoError, GitApprovals
from gitflagger.loadtester.logs import EventLog, configure_json_logging
from gitflagger.loadtester.server import LoadTesterServer
from gitflagger.model.durations import format_go_seconds, parse_duration

EPILOG = """\b
Examples:
  # Flagger-compatible defaults: port 8080, hey and curl allowed, no bash, 1h timeout
  gitflagger loadtester
\b
  # allow ghz for gRPC load tests (the list replaces the default, so repeat hey)
  gitflagger loadtester --allow-command hey --allow-command ghz
\b
  # bats acceptance tests need a shell: only on a trusted network
  gitflagger loadtester --enable-bash --timeout 5m
\b
  # gates that also open on a commit in a config repo mirror
  gitflagger loadtester --gate-repo /var/lib/gates.git --gate-branch main
  # ...then, in a clone of that repo, approve one release of test/podinfo:
  mkdir -p approvals/test/podinfo
  echo "LGTM (OPS-42)" > approvals/test/podinfo/85d557f47b   # the payload's checksum
  git add approvals && git commit -m "approve podinfo.test" && git push
\b
  # let an operator open and close gates with a bearer token (the check endpoints stay open)
  gitflagger loadtester --operator-token-file /var/run/secrets/loadtester/token
  curl -H "Authorization: Bearer $(cat token)" -d '{"name":"podinfo","namespace":"test"}' \\
       http://flagger-loadtester.test/gate/open
\b
Canary webhooks:
  url: http://flagger-loadtester.test/   metadata: {cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}
  url: http://flagger-loadtester.test/gate/check      (confirm-rollout, confirm-promotion)
  url: http://flagger-loadtester.test/rollback/check  (rollback)
"""

SHUTDOWN_GRACE = 3.0
"""Seconds running tasks get after SIGTERM before SIGKILL; the whole stop stays under 5 s."""


def _timeout(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        seconds = parse_duration(value).seconds
    except ValueError as err:
        raise click.BadParameter(str(err)) from None
    if seconds <= 0:
        raise click.BadParameter("must be more than 0, e.g. 1h or 30s")
    return seconds


@click.command(
    "loadtester", epilog=EPILOG, context_settings={"max_content_width": 110},
    short_help="Serve Flagger's load tester API: load tests, manual and git gates.",
)
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (Flagger's deployments use 8080; 0 picks a free port).")
@click.option("--listen", default="0.0.0.0", show_default=True, metavar="ADDRESS",
              help="Address to listen on, e.g. 127.0.0.1 or ::.")
@click.option("--allow-command", "allow_commands", multiple=True, metavar="NAME",
              help="A program that cmd tasks may run, found on PATH. Repeatable; "
                   f"replaces the default ({', '.join(DEFAULT_ALLOWED)}).")
@click.option("--enable-bash", is_flag=True,
              help="Allow type: bash tasks, which run any shell command a request sends. Off by default.")
@click.option("--timeout", default="1h", show_default=True, callback=_timeout, metavar="DURATION",
              help="Longest a task may run before it is killed (Go duration, like Flagger's -timeout).")
@click.option("--gate-repo", type=click.Path(exists=True, file_okay=False), default=None,
              help="Local git repo (bare is fine, read-only) whose approvals/ and rollbacks/ files "
                   "also open gates.")
@click.option("--gate-branch", default=None, metavar="BRANCH",
              help="Branch of --gate-repo to read. Default: the repo's HEAD.")
@click.option("--namespace-regexp", default=None, metavar="REGEXP",
              help="Only serve canaries whose namespace matches (Flagger's -namespace-regexp).")
@click.option("--operator-token-file", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="File holding the bearer token that /gate/open|close and /rollback/open|close "
                   "require. Without it (and without --insecure-open-gates) those endpoints are refused; "
                   "/gate/check and /rollback/check stay open.")
@click.option("--insecure-open-gates", is_flag=True,
              help="Flagger's behaviour: anyone who can reach the load tester may open and close gates.")
@click.option("--max-tasks", type=click.IntRange(1, 10000), default=16, show_default=True,
              help="Most tasks running at once; one more is answered 429 Too Many Requests.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True, help="Least severe log level printed.")
def loadtester_command(
    port: int, listen: str, allow_commands: tuple[str, ...], enable_bash: bool, timeout: float,
    gate_repo: str | None, gate_branch: str | None, namespace_regexp: str | None,
    operator_token_file: str | None, insecure_open_gates: bool, max_tasks: int, log_level: str,
) -> None:
    """Serve Flagger's load tester API so existing Canaries work unchanged.

    cmd tasks run in the background, one per canary and command, without a shell, and
    only if their program is allowed. /gate/* and /rollback/* are Flagger's manual
    gates; with --gate-repo a file committed at approvals/<namespace>/<name>/<checksum>
    (one release) or approvals/<namespace>/<name>/approved (any release) opens the
    confirm gate, and rollbacks/<namespace>/<name>/<checksum> or .../requested opens
    the rollback gate. /gate/open|close and /rollback/open|close need the bearer token
    from --operator-token-file; with neither it nor --insecure-open-gates they are refused.
    """
    config = _config(allow_commands, enable_bash, timeout, gate_repo, gate_branch, namespace_regexp)
    config = replace(
        config, operator_token=_operator_token(operator_token_file, insecure_open_gates),
        open_gates=insecure_open_gates, max_tasks=max_tasks,
    )
    configure_json_logging(log_level)
    log = EventLog()
    app = LoadTester(config, log=log)
    try:
        server = LoadTesterServer(app, host=listen, port=port)
    except OSError as err:
        raise click.ClickException(f"cannot listen on {listen}:{port}: {err.strerror or err}") from None
    for name in config.policy.dangerous():
        log.warning("an allowed program can run any other program", program=name)
    for name in config.policy.unchecked():
        log.warning("an allowed program's arguments are not checked for local file access", program=name)
    if enable_bash:
        log.warning("type bash is enabled: any request can run any shell command")
    if insecure_open_gates:
        log.warning("--insecure-open-gates: anyone who can reach the load tester can open and close gates")

    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    log.info(
        "load tester listening", address=server.host, port=server.port,
        allowed=sorted(config.policy.allowed), bash=enable_bash, timeout=format_go_seconds(timeout),
        gate_repo=gate_repo, gate_branch=gate_branch, max_tasks=max_tasks,
        operator_endpoints="open" if insecure_open_gates else "token" if operator_token_file else "refused",
    )
    while not stop.wait(0.5):
        pass
    log.info("shutting down", signal=received[0] if received else None)
    server.stop(grace=SHUTDOWN_GRACE)
    log.info("load tester stopped")


def _operator_token(path: str | None, open_gates: bool) -> bytes | None:
    """The token from ``--operator-token-file`` (surrounding whitespace dropped), checked."""
    if path is None:
        return None
    if open_gates:
        raise click.UsageError("--operator-token-file and --insecure-open-gates exclude each other")
    try:
        with open(path, "rb") as handle:
            token = handle.read(4097).strip()
    except OSError as err:
        reason = err.strerror or str(err)
        raise click.BadParameter(f"{path}: {reason}", param_hint="--operator-token-file") from None
    if not token:
        raise click.BadParameter(f"{path} is empty", param_hint="--operator-token-file")
    if len(token) > 4096 or any(c < 0x21 or c > 0x7E for c in token):
        raise click.BadParameter(f"{path}: the token must be one line of printable ASCII, at most 4096 bytes",
                                 param_hint="--operator-token-file")
    return token


def _config(
    allow_commands: tuple[str, ...], enable_bash: bool, timeout: float,
    gate_repo: str | None, gate_branch: str | None, namespace_regexp: str | None,
) -> LoadTesterConfig:
    """Validate the options together, each error naming its option."""
    try:
        policy = CommandPolicy.of(allow_commands or DEFAULT_ALLOWED)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--allow-command") from None
    if gate_branch and not gate_repo:
        raise click.UsageError("--gate-branch needs --gate-repo")
    if gate_repo:
        try:
            GitApprovals(gate_repo, gate_branch).check()
        except GateRepoError as err:
            raise click.BadParameter(str(err), param_hint="--gate-repo") from None
    if namespace_regexp is not None:
        try:
            re.compile(namespace_regexp)
        except re.error as err:
            raise click.BadParameter(f"invalid regular expression: {err}",
                                     param_hint="--namespace-regexp") from None
    return LoadTesterConfig(
        policy=policy, enable_bash=enable_bash, timeout=timeout,
        gate_repo=gate_repo, gate_branch=gate_branch, namespace_regexp=namespace_regexp,
    )
