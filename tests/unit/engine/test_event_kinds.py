"""Alerts, metrics and webhook event types follow an event's kind and severity, never its text.

Each scenario runs twice: once with Flagger's texts, once with every template in
:mod:`gitflagger.decide.messages` rewritten (reversed, so no prefix survives).
Everything the controller routes on must come out the same.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.notifiers import ChatMessage
from gitflagger.decide import Event, EventKind, Severity, messages
from gitflagger.engine.report import Reporting
from tests.unit.adapters.loopback import LoopbackServer, Reply, Request
from tests.unit.engine.podinfo_world import World


@dataclass
class Recorded:
    """A notifier that keeps what it was asked to post."""

    service: str = "recorded"
    posts: list[tuple[str, str]] = field(default_factory=list)

    def post(self, message: ChatMessage) -> None:
        self.posts.append((str(message.severity), message.text))


@dataclass(frozen=True)
class Routed:
    """What the controller did with a scenario's events, texts aside."""

    alerts: list[str]
    webhook_types: list[str]
    kube_types: list[bool]
    counted: dict[str, float]
    texts: list[str]


def _templates() -> list[str]:
    return [
        name
        for name, fn in vars(messages).items()
        if inspect.isfunction(fn)
        and fn.__module__ == messages.__name__
        and inspect.signature(fn).return_annotation in ("Event", Event)
        and name not in ("info", "warning", "error")
    ]


def _reworded(fn: Callable[..., Event]) -> Callable[..., Event]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Event:
        event = fn(*args, **kwargs)
        return Event(event.kind, event.severity, "reworded: " + event.message[::-1], muted=event.muted)

    return wrapper


def _run(tmp_path: Path, scenario: str) -> Routed:
    notifier = Recorded()
    with LoopbackServer() as prometheus, LoopbackServer() as hooks, LoopbackServer() as events:
        asked: list[str] = []

        def gate(request: Request) -> Reply:
            asked.append(request.path)
            waiting = request.path == "/approve" and asked.count("/approve") <= 2
            return Reply(status=403 if waiting else 200)

        hooks.respond_with(gate)
        reporting = Reporting(event_webhook=events.url + "/events", notifier=notifier)
        world = World(tmp_path, prometheus, hooks, reporting=reporting)
        world.canary["spec"]["canaryAnalysis"]["webhooks"].append(
            {"name": "approve", "type": "confirm-promotion", "url": hooks.url + "/approve"}
        )
        world.initialized()
        world.set_image("6.0.1")
        if scenario == "fails":
            world.metrics.success_rate = 70.0
            world.until("Failed")
        else:
            world.until("Succeeded")
        sent = [r.json()["metadata"] for r in events.requests]
    samples = world.ctx.telemetry.registry.get_sample_value
    counted = {
        kind.value: samples("gitflagger_events_total", {"name": "podinfo", "namespace": "test", "kind": kind})
        or 0.0
        for kind in EventKind
    }
    return Routed(
        alerts=[severity for severity, _ in notifier.posts],
        webhook_types=[m["eventType"] for m in sent],
        kube_types=[e.warning for e in world.cluster.events],
        counted=counted,
        texts=[m["eventMessage"] for m in sent],
    )


def test_every_template_is_found() -> None:
    names = _templates()
    assert {"new_revision", "threshold_reached", "canary_failed", "promotion_completed"} <= set(names)
    assert len(names) >= 40


@pytest.mark.parametrize("scenario", ["fails", "succeeds"])
def test_rewording_every_message_changes_no_alert_metric_or_event_type(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    original = _run(tmp_path / "original", scenario)
    for name in _templates():
        monkeypatch.setattr(messages, name, _reworded(getattr(messages, name)))
    rewritten = _run(tmp_path / "reworded", scenario)

    assert rewritten.texts and all(t.startswith("reworded: ") for t in rewritten.texts)
    assert not set(original.texts) & set(rewritten.texts)
    assert rewritten.alerts == original.alerts
    assert rewritten.webhook_types == original.webhook_types
    assert rewritten.kube_types == original.kube_types
    assert rewritten.counted == original.counted
    # the scenarios do exercise the routing: news at info, halts at warn, a rollback at error
    expected = {"fails": {"info", "warn", "error"}, "succeeds": {"info", "warn"}}[scenario]
    assert set(original.alerts) == expected
    ends = {"fails": EventKind.ROLLBACK, "succeeds": EventKind.PROMOTED}[scenario]
    assert original.counted[ends] >= 1
    if scenario == "succeeds":
        assert original.counted[EventKind.WAITING_APPROVAL] >= 1


def test_a_kind_is_news_or_a_warning_to_alert() -> None:
    assert Event(EventKind.NEW_REVISION, Severity.INFO, "").alerts
    assert Event(EventKind.PROMOTED, Severity.INFO, "").alerts
    assert not Event(EventKind.ADVANCE, Severity.INFO, "Promotion completed! (only the text says so)").alerts
    assert Event(EventKind.HALT, Severity.WARN, "").alerts
