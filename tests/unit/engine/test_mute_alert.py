"""``webhooks[].muteAlert``: a ``confirm-*`` gate that says no is recorded, but pages nobody.

Flagger wraps each "waiting for approval" alert of its confirm gates in
``if !webhook.MuteAlert`` (``scheduler_hooks.go``); the Warning Event and the
event webhook are sent either way. These tests drive a real rollout through the
reconcile and report stages, with a chat notifier that records what it was asked
to post.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitflagger.adapters.notifiers import ChatMessage
from gitflagger.decide import Event, EventKind, Severity
from gitflagger.engine.report import Reporting
from tests.unit.adapters.loopback import LoopbackServer, Reply, Request
from tests.unit.engine.podinfo_world import World


@dataclass
class Recorded:
    service: str = "recorded"
    texts: list[str] = field(default_factory=list)

    def post(self, message: ChatMessage) -> None:
        self.texts.append(message.text)


def _rollout(tmp_path: Path, gate_type: str, mute: bool) -> tuple[list[str], list[str]]:
    """Run a rollout whose gate says no three times; return (alert texts, Warning Event texts)."""
    notifier = Recorded()
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        asked: list[str] = []

        def gate(request: Request) -> Reply:
            asked.append(request.path)
            waiting = request.path == "/approve" and asked.count("/approve") <= 3
            return Reply(status=403 if waiting else 200)

        hooks.respond_with(gate)
        world = World(tmp_path, prometheus, hooks, reporting=Reporting(notifier=notifier))
        world.canary["spec"]["canaryAnalysis"]["webhooks"].append(
            {"name": "approve", "type": gate_type, "url": hooks.url + "/approve", "muteAlert": mute}
        )
        world.initialized()
        world.set_image("6.0.1")
        world.until("Succeeded")
        warnings = [e.message for e in world.cluster.events if e.warning]
    return notifier.texts, warnings


@pytest.mark.parametrize("gate_type", ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion"])
def test_a_muted_gate_records_its_event_but_sends_no_alert(tmp_path: Path, gate_type: str) -> None:
    loud_alerts, loud_events = _rollout(tmp_path / "loud", gate_type, mute=False)
    muted_alerts, muted_events = _rollout(tmp_path / "muted", gate_type, mute=True)

    def waiting(texts: list[str]) -> list[str]:
        return [t for t in texts if "advancement waiting for" in t and t.endswith(" approve")]

    # without muteAlert the gate pages; with it, the same Warning Events are recorded and nothing pages
    assert waiting(loud_alerts)
    assert waiting(loud_events) and waiting(muted_events) == waiting(loud_events)
    assert waiting(muted_alerts) == []
    # the rest of the rollout still alerts as before (its start and its promotion)
    assert [t for t in muted_alerts if t not in waiting(loud_alerts)] == [
        t for t in loud_alerts if t not in waiting(loud_alerts)
    ]
    assert muted_alerts


def test_a_muted_event_is_a_warning_that_does_not_alert() -> None:
    event = Event(EventKind.WAITING_APPROVAL, Severity.WARN, "waiting for approval x", muted=True)
    assert event.warning and not event.alerts
    assert Event(EventKind.WAITING_APPROVAL, Severity.WARN, "same").alerts
