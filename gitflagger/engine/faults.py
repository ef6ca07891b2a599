"""An unexpected exception in one Canary's step: a Warning Event on it and a counter, never a stop.

gitflagger's own errors (:class:`~gitflagger.errors.GitflaggerError`) are
expected: an API server down, a refused push, an invalid spec. Each call site
turns them into a :class:`~gitflagger.engine.reconcile.StepOutcome`. Anything
else (a ``RecursionError`` on a pathological spec, a ``KeyError`` on a shape
nobody foresaw, a bug) used to escape the pass and stop the controller, and so
every rollout in the cluster. Now it is confined to the Canary it happened on:

* one line on that Canary, as a Warning Event (reason ``ReconcileError``),
  naming the stage and the exception: no traceback, which could be long and
  could quote input, and credentials redacted (:mod:`gitflagger.model.redact`).
  The same line is not emitted again until the Canary steps successfully or
  the line changes, so a Canary that fails every pass does not flood its Events;
* ``gitflagger_reconcile_errors_total{namespace,name}`` counts every occurrence;
* the traceback goes to the log (level ``error``), for whoever fixes the bug.

The Canary is then retried with the controller's backoff, like any failed step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gitflagger.engine.ports import ClusterPort
from gitflagger.engine.telemetry import Telemetry
from gitflagger.errors import GitflaggerError
from gitflagger.model.redact import redact_text

REASON = "ReconcileError"
MAX_DETAIL = 200
"""Characters of the exception's own text kept in the Event (its first line)."""


def describe(stage: str, err: BaseException) -> str:
    """``"rendering the step failed: RecursionError: maximum recursion depth exceeded"``: one line."""
    text = redact_text(str(err).strip().splitlines()[0]) if str(err).strip() else ""
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 3] + "..."
    return f"{stage} failed: {type(err).__name__}" + (f": {text}" if text else "")


def report_fault(
    cluster: ClusterPort,
    telemetry: Telemetry,
    announced: dict[str, str],
    canary_obj: Mapping[str, Any],
    stage: str,
    err: Exception,
    log: Any,
) -> str:
    """Report ``err``, raised while ``stage`` of one Canary's step; return the one line said.

    ``announced`` maps each Canary (``ns/name``) to the line last emitted as an
    Event on it, so a repeated fault is counted and logged but emitted once.
    """
    meta = canary_obj.get("metadata") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    message = describe(stage, err)
    telemetry.reconcile_errors.labels(namespace, name).inc()
    log.error("unexpected error in one Canary's step; the others go on", error=message, exc_info=err)
    ref = f"{namespace}/{name}"
    if announced.get(ref) != message:
        announced[ref] = message
        try:
            cluster.emit_event(canary_obj, message, warning=True, reason=REASON)
        except GitflaggerError as event_err:
            log.warning("kubernetes event failed", error=str(event_err))
        except Exception as event_err:  # reporting a fault must not raise another
            log.error("kubernetes event failed", error=describe("emitting the event", event_err))
    return message
