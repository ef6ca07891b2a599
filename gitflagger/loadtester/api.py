"""Flagger's load tester API as a plain function of (path, body) → response.

Keeping the routes free of sockets means every status code and message can be read
in one place and tested without a server; :mod:`.server` only moves bytes.

Routes and answers (Flagger's, unless marked *ours*):

==================  =============================================================
``POST /``          run ``metadata.cmd``: background 202, blocking 200 or 500,
                    bad request 400, refused 403, shutting down 503 (*ours*)
``/gate/check``     200 ``Approved`` if the confirm gate is open, else 403
``/gate/open``      202, opens it (``/gate/close`` closes it); *ours*: needs the
                    operator's bearer token (401 without, 403 wrong or none set)
``/gate/approve``   always 200; ``/gate/halt`` always 403
``/rollback/check`` 200 if the rollback gate is open, else 403
``/rollback/open``  202 (``/rollback/close`` too); operator token as for ``/gate/open``
``/healthz``        200 ``OK``
``/metrics``        Prometheus text format
==================  =============================================================

Task types: ``cmd`` (the default) runs in the background, once per canary and
command; ``bash`` runs ``bash -c`` in the request, only with ``--enable-bash``;
``helm``/``helmv3`` and ``kubectl`` run that program (which must be allow-listed)
with ``cmd`` as its arguments, in the request. Flagger's ``ngrinder`` and
``concord`` delegations are not supported (400). Blocking tasks answer 200, with the
output only when ``returnCmdOutput: "true"`` as in Flagger, or 500 with the error and
output. Flagger has no way to wait for a ``cmd`` task; *ours* adds
``blocking: "true"`` so a smoke test such as ``curl -sf URL`` can fail a webhook
without enabling bash.

Unlike Flagger, an unknown path is a 404 rather than a task request, so a typo in a
gate URL fails loudly instead of asking to run a command.

**Operator endpoints.** In Flagger anyone who can reach the load tester can open a
gate. Here ``/gate/open|close`` and ``/rollback/open|close`` need
``Authorization: Bearer <token>``, the token read from ``--operator-token-file``
and compared in constant time. Without a token file they are refused (403), unless
the operator chose Flagger's behaviour with ``--insecure-open-gates``. The check
endpoints stay open: Canary webhooks call them without credentials.

**At most ``max_tasks`` tasks** (background and blocking) run at once; one more is
answered 429, so a flood of distinct commands cannot start a process each.

Every text answer is passed through :func:`~gitflagger.model.redact.redact_text`,
as is every log field, so a credential in a command is not echoed back or logged.
"""

from __future__ import annotations

import hmac
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from gitflagger.loadtester.commands import (
    DEFAULT_ALLOWED,
    ArgumentRefused,
    CommandInvalid,
    CommandPolicy,
    CommandRefused,
    split_command,
)
from gitflagger.loadtester.gates import GateKind, GateRepoError, GateStore, GitApprovals
from gitflagger.loadtester.logs import EventLog
from gitflagger.loadtester.metrics import LoadTesterMetrics
from gitflagger.loadtester.payload import PayloadError, WebhookPayload
from gitflagger.loadtester.process import Processes, ShuttingDown
from gitflagger.loadtester.tasks import Task, TaskRunner, TooManyTasks
from gitflagger.model.redact import redact_text

TEXT = "text/plain; charset=utf-8"

# Flagger's blocking task types that run one fixed program with ``cmd`` as its arguments.
# Helm 2 is gone and Flagger's newest code runs the same binary for both helm types.
PROGRAM_TYPES = {"helm": "helm", "helmv3": "helm", "kubectl": "kubectl"}
UNSUPPORTED_TYPES = {"ngrinder", "concord"}
OPERATOR_PATHS = frozenset({"/gate/open", "/gate/close", "/rollback/open", "/rollback/close"})
"""Endpoints that change gate state: an operator's, not a Canary's (see the module docstring)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def text(cls, status: int, message: str, *headers: tuple[str, str]) -> Response:
        return cls(status, (redact_text(message) + "\n").encode(), headers=headers)


class _Answer(Exception):
    """Ends a request early with ``response`` (a bad or unauthorized payload)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class LoadTesterConfig:
    """Everything the operator decides. Nothing in a request can change any of it."""

    policy: CommandPolicy = field(default_factory=lambda: CommandPolicy.of(DEFAULT_ALLOWED))
    enable_bash: bool = False
    timeout: float = 3600.0
    gate_repo: str | None = None
    gate_branch: str | None = None
    namespace_regexp: str | None = None
    operator_token: bytes | None = None
    """The bearer token ``/gate/open`` and friends need; None refuses them, unless ``open_gates``."""
    open_gates: bool = False
    """Flagger's behaviour: anyone who can reach the load tester may open and close gates."""
    max_tasks: int = 16
    """Most tasks (background and blocking) running at once; one more is answered 429."""


class LoadTester:
    """The API: routes requests to the task runner and the gates."""

    def __init__(self, config: LoadTesterConfig, *, log: EventLog | None = None,
                 metrics: LoadTesterMetrics | None = None) -> None:
        self.config = config
        self.log = log or EventLog()
        self.metrics = metrics or LoadTesterMetrics()
        self.processes = Processes()
        self.runner = TaskRunner(
            processes=self.processes, metrics=self.metrics, log=self.log, timeout=config.timeout,
            max_tasks=config.max_tasks,
        )
        self.gates = GateStore()
        self.approvals = GitApprovals(config.gate_repo, config.gate_branch) if config.gate_repo else None
        self._namespaces = re.compile(config.namespace_regexp) if config.namespace_regexp else None
        self._routes: dict[str, Callable[[bytes], Response]] = {
            "/": self._task,
            "/healthz": lambda _: Response.text(200, "OK"),
            "/metrics": lambda _: Response(200, self.metrics.exposition(), self.metrics.content_type),
            "/gate/approve": lambda _: Response.text(200, "OK"),
            "/gate/halt": lambda _: Response.text(403, "Forbidden"),
            "/gate/check": lambda body: self._check(GateKind.CONFIRM, body),
            "/gate/open": lambda body: self._set(GateKind.CONFIRM, body, True),
            "/gate/close": lambda body: self._set(GateKind.CONFIRM, body, False),
            "/rollback/check": lambda body: self._check(GateKind.ROLLBACK, body),
            "/rollback/open": lambda body: self._set(GateKind.ROLLBACK, body, True),
            "/rollback/close": lambda body: self._set(GateKind.ROLLBACK, body, False),
        }

    def handle(self, path: str, body: bytes, authorization: str | None = None) -> Response:
        """Answer one request. ``path`` has no query string; ``authorization`` is that header."""
        route = self._routes.get(path)
        if route is None:
            return Response.text(404, f"no such endpoint {path}")
        try:
            if path in OPERATOR_PATHS:
                self._authorize(path, authorization)
            return route(body)
        except _Answer as answer:
            return answer.response

    def stop(self, *, grace: float) -> None:
        """Stop every running task's processes (TERM, then KILL after ``grace``) and wait for them."""
        self.processes.stop_all(grace=grace)
        self.runner.join(timeout=grace)

    # -- tasks -----------------------------------------------------------------------

    def _task(self, body: bytes) -> Response:
        payload = self._payload(body)
        metadata = payload.metadata
        if not metadata:
            return Response.text(400, "metadata not found in payload")
        kind = metadata.get("type", "cmd")
        cmd = metadata.get("cmd")
        if kind not in {"cmd", "bash", *PROGRAM_TYPES}:
            self.metrics.tasks_refused.labels("unknown_type").inc()
            hint = " (not supported by gitflagger's load tester)" if kind in UNSUPPORTED_TYPES else ""
            return Response.text(400, f"unknown task type {kind}{hint}")
        if cmd is None:
            return Response.text(400, "cmd not found in metadata")
        try:
            task = self._make_task(payload, kind, cmd)
        except CommandInvalid as err:
            return self._refuse(payload, "invalid", 400, str(err), cmd)
        except ArgumentRefused as err:
            return self._refuse(payload, "file_argument", 403, str(err), cmd)
        except CommandRefused as err:
            reason = "bash_disabled" if kind == "bash" else "not_allowed"
            return self._refuse(payload, reason, 403, str(err), cmd)
        blocking = kind != "cmd" or payload.flag("blocking")
        try:
            if not blocking:
                started = self.runner.start(task)
                return Response.text(202, "started" if started else "already running")
            result = self.runner.run(task)
        except TooManyTasks as err:
            self.metrics.tasks_refused.labels("too_many_tasks").inc()
            return Response.text(429, str(err), ("Retry-After", "10"))
        except ShuttingDown as err:
            return Response.text(503, str(err))
        except OSError as err:
            self.metrics.tasks_failed.labels(kind).inc()
            return Response.text(500, f"command could not start: {err}")
        if not result.ok:
            return Response.text(500, f"command failed: {result.describe()}\n{result.text}".rstrip())
        output = result.output if payload.flag("returnCmdOutput") else b""
        return Response(200, output)

    def _make_task(self, payload: WebhookPayload, kind: str, cmd: str) -> Task:
        """Check ``cmd`` against the operator's policy and build the task that will run."""
        if kind == "bash":
            if not self.config.enable_bash:
                raise CommandRefused(
                    "type bash is disabled: this load tester runs no shell commands "
                    "(the operator can enable them with --enable-bash)"
                )
            bash = shutil.which("bash")
            if bash is None:
                raise CommandRefused("type bash is enabled but bash was not found on PATH")
            argv = [bash, "-c", cmd]
        elif kind in PROGRAM_TYPES:
            argv = self.config.policy.resolve([PROGRAM_TYPES[kind], *split_command(cmd)])
        else:
            argv = self.config.policy.prepare(cmd)
        log_output = kind != "cmd" or payload.flag("logCmdOutput")
        return Task(kind, payload.canary, cmd, tuple(argv), log_output)

    def _refuse(self, payload: WebhookPayload, reason: str, status: int, message: str,
                cmd: str | None) -> Response:
        self.metrics.tasks_refused.labels(reason).inc()
        self.log.warning("command refused", canary=payload.canary, reason=message, command=cmd)
        return Response.text(status, message)

    # -- gates -----------------------------------------------------------------------

    def _authorize(self, path: str, authorization: str | None) -> None:
        """Let an operator request through, or end it: 401 without a token, 403 with a wrong one."""
        expected = self.config.operator_token
        if expected is None:
            if self.config.open_gates:
                return
            self.log.warning("operator endpoint refused: no operator token configured", path=path)
            raise _Answer(Response.text(
                403, f"{path} is disabled: the load tester was started without --operator-token-file"))
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            self.log.warning("operator endpoint refused: no bearer token", path=path)
            raise _Answer(Response.text(401, f"{path} needs Authorization: Bearer <operator token>",
                                        ("WWW-Authenticate", 'Bearer realm="gitflagger-loadtester"')))
        if not hmac.compare_digest(given.strip().encode(), expected):
            self.log.warning("operator endpoint refused: wrong token", path=path)
            raise _Answer(Response.text(403, "Forbidden: wrong operator token"))

    def _check(self, kind: GateKind, body: bytes) -> Response:
        payload = self._payload(body)
        message = "Approved" if self.gates.is_open(kind, payload.canary) else ""
        if not message and self.approvals is not None:
            try:
                found = self.approvals.find(kind, payload.namespace, payload.name, payload.checksum)
            except GateRepoError as err:
                self.metrics.gate_repo_errors.inc()
                self.log.error("gate repo lookup failed", canary=payload.canary, error=str(err))
                found = None
            if found is not None:
                message = f"Approved by {found.path} at {found.commit}"
        result = "open" if message else "closed"
        self.metrics.gate_checks.labels(kind.value, result).inc()
        self.log.info(f"{kind.value} gate check", canary=payload.canary, result=result, approval=message)
        return Response.text(200, message) if message else Response.text(403, "Forbidden")

    def _set(self, kind: GateKind, body: bytes, open_: bool) -> Response:
        payload = self._payload(body)
        (self.gates.open if open_ else self.gates.close)(kind, payload.canary)
        state = "opened" if open_ else "closed"
        self.log.info(f"{kind.value} gate {state}", canary=payload.canary)
        return Response.text(202, f"{payload.canary} {kind.value} gate {state}")

    def _payload(self, body: bytes) -> WebhookPayload:
        """Parse and authorize a payload, or end the request saying why not (Flagger's 400 and 403)."""
        try:
            payload = WebhookPayload.parse(body)
        except PayloadError as err:
            raise _Answer(Response.text(400, str(err))) from None
        if self._namespaces is not None and not self._namespaces.search(payload.namespace):
            self.log.warning("namespace not allowed", canary=payload.canary)
            raise _Answer(Response.text(403, "Forbidden"))
        return payload
