"""The report stage: status, Events, webhooks, alerts and metrics, all from the Decision.

Status is the one report that must succeed: it is the controller's memory
(``lastStepTime`` paces the next step, ``lastAppliedSpec`` says which revision
is in flight). Everything else here is best effort. An Event, an ``event``
webhook or a chat alert that fails is logged and the rollout goes on, as in
Flagger: a Slack outage must not stall a release.

Alerts follow Flagger's choice of what is worth a message: the start of a
rollout, its end (promoted or failed), and every warning (halts, timeouts),
each at its severity, to every ``analysis.alerts`` provider that wants it, or,
for a Canary without ``analysis.alerts``, to the global notifier (``--slack-url``
or ``--msteams-url``), as Flagger's controller does. The choice reads each
event's kind and severity (:attr:`Event.alerts`), never its text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gitflagger.adapters.notifiers import (
    ChatMessage,
    NotificationError,
    Notifier,
    StepCommit,
    canary_fields,
    should_alert,
)
from gitflagger.adapters.webhooks import run_gates, send_events
from gitflagger.decide import Decision, Event, EventKind, Severity
from gitflagger.engine.alerting import AlertTarget
from gitflagger.engine.apply import Drift
from gitflagger.engine.observe import webhook_checksum
from gitflagger.engine.ports import ClusterPort, Obj
from gitflagger.engine.telemetry import Telemetry, logger
from gitflagger.errors import GitflaggerError
from gitflagger.model.canary import Canary
from gitflagger.model.status import State


@dataclass(frozen=True)
class Reporting:
    """Where reports go besides the cluster: the global event webhook and chat notifier."""

    event_webhook: str | None = None
    notifier: Notifier | None = None
    cluster_name: str = ""
    """Shown as the "Cluster" field of chat alerts (Flagger's ``-cluster-name``)."""


def write_status(cluster: ClusterPort, canary_obj: Mapping[str, Any], state: State, commit: str) -> Obj:
    """Patch the status subresource with the step's state; ``lastCommit`` names the step's commit."""
    final = state.evolve(last_commit=commit) if commit else state
    return cluster.patch_canary_status(canary_obj, final.to_status())


def announce(
    cluster: ClusterPort,
    canary_obj: Mapping[str, Any],
    canary: Canary,
    decision: Decision,
    drift: Sequence[Drift],
    reporting: Reporting,
    telemetry: Telemetry,
    commit: str,
    alerts: Sequence[AlertTarget] = (),
) -> None:
    """Events, event webhooks, post-rollout webhooks and alerts for one step; never raises.

    ``alerts`` are the Canary's alert providers as observe resolved them
    (:mod:`gitflagger.engine.alerting`): report reads nothing to send them.
    """
    log = logger(canary=canary.name, namespace=canary.namespace, step=decision.state.step)
    events = list(decision.events)
    for item in drift:
        text = f"Drift detected on {item.kind} {item.name}.{canary.namespace}: {item.detail}"
        events.append(Event(EventKind.DRIFT, Severity.WARN, text))
        telemetry.drift.labels(canary.name, canary.namespace, item.kind).inc()
    phase = decision.state.phase.value if decision.state.phase else ""
    checksum = webhook_checksum(decision.state.last_applied_spec)
    for event in events:
        log.info("event", kind=event.kind.value, severity=event.severity.value, message=event.message)
        telemetry.events.labels(canary.name, canary.namespace, event.kind.value).inc()
        try:
            cluster.emit_event(canary_obj, event.message, warning=event.warning)
        except GitflaggerError as err:
            log.warning("kubernetes event failed", error=str(err))
        sent = send_events(
            canary,
            event.message,
            phase,
            global_url=reporting.event_webhook,
            checksum=checksum,
            warning=event.warning,
            now=decision.state.last_step_time,
        )
        for result in sent:
            if not result.ok:
                log.warning("event webhook failed", webhook=result.name, detail=result.message)
    if decision.webhooks:
        answers = run_gates(canary, decision.webhooks, phase, checksum, stop_on_failure=False)
        for name, result in answers.items():
            log.info("post-rollout webhook", webhook=name, ok=result.ok, detail=result.message)
    _alerts(canary, events, alerts, reporting, telemetry, commit, log)


def _alerts(
    canary: Canary,
    events: Sequence[Event],
    alerts: Sequence[AlertTarget],
    reporting: Reporting,
    telemetry: Telemetry,
    commit: str,
    log: Any,
) -> None:
    worth = [e for e in events if e.alerts]
    if not worth:
        return
    fields = canary_fields(canary, cluster=reporting.cluster_name)
    step_commit = StepCommit(commit) if commit else None
    targets: list[tuple[str, str, Notifier]] = []
    if reporting.notifier is not None and not canary.spec.analysis.alerts:
        targets.append(("global", "info", reporting.notifier))  # as Flagger: only without analysis.alerts
    targets += [(alert.name, alert.severity, alert.notifier) for alert in alerts]
    for event in worth:
        message = ChatMessage(
            canary.target_name, canary.namespace, event.message, fields, event.severity, step_commit
        )
        for name, wanted, notifier in targets:
            if not should_alert(wanted, event.severity):
                continue
            try:
                notifier.post(message)
            except NotificationError as err:
                log.warning("alert failed", alert=name, error=str(err))
                telemetry.alert_failures.labels(canary.name, canary.namespace, notifier.service).inc()
