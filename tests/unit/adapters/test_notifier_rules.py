"""Severity filtering, alert fields, Discord's URL and building notifiers from AlertProviders."""

from __future__ import annotations

import pytest

from gitflagger.adapters.notifiers import (
    Discord,
    Field,
    GChat,
    MSTeams,
    Rocket,
    Slack,
    canary_fields,
    notifier_for,
    should_alert,
)
from gitflagger.adapters.notifiers.discord import slack_compatible_url
from gitflagger.errors import ValidationError
from gitflagger.model.templates import AlertProvider, AlertProviderType
from tests.unit.adapters.canaries import canary


@pytest.mark.parametrize(
    ("alert", "event", "sent"),
    [
        ("info", "info", True),
        ("info", "warn", True),
        ("info", "error", True),
        ("warn", "info", False),
        ("warn", "warn", True),
        ("warn", "error", True),
        ("error", "info", False),
        ("error", "warn", False),
        ("error", "error", True),
    ],
    ids=lambda v: str(v),
)
def test_should_alert_orders_info_warn_error(alert: str, event: str, sent: bool) -> None:
    assert should_alert(alert, event) is sent


def test_unknown_severity_is_an_error() -> None:
    with pytest.raises(ValueError):
        should_alert("critical", "error")


def test_canary_fields_match_flaggers_alert_metadata() -> None:
    assert canary_fields(canary(), cluster="prod-eu") == [
        Field("Cluster", "prod-eu"),
        Field("Target", "Deployment/podinfo.test"),
        Field("Failed checks threshold", "5"),
        Field("Progress deadline", "600s"),
        Field("Traffic routing", "Weight step: 10 max: 50"),
    ]
    assert canary_fields(canary(step_weight=0))[-1] == Field("Progress deadline", "600s")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://discord.com/api/webhooks/1/abc", "https://discord.com/api/webhooks/1/abc/slack"),
        ("https://discord.com/api/webhooks/1/abc/", "https://discord.com/api/webhooks/1/abc/slack"),
        ("https://discord.com/api/webhooks/1/abc/slack", "https://discord.com/api/webhooks/1/abc/slack"),
        (
            "https://discord.com/api/webhooks/1/abc?wait=true",
            "https://discord.com/api/webhooks/1/abc/slack?wait=true",
        ),
    ],
    ids=["plain", "trailing-slash", "already-slack", "query-kept"],
)
def test_discord_uses_the_slack_compatible_endpoint(url: str, expected: str) -> None:
    assert slack_compatible_url(url) == expected


def provider(kind: AlertProviderType, **kw: str) -> AlertProvider:
    return AlertProvider("on-call", "flagger", kind, **kw)


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        (AlertProviderType.SLACK, Slack),
        (AlertProviderType.DISCORD, Discord),
        (AlertProviderType.ROCKET, Rocket),
        (AlertProviderType.MSTEAMS, MSTeams),
        (AlertProviderType.GCHAT, GChat),
    ],
)
def test_notifier_for_each_type(kind: AlertProviderType, cls: type) -> None:
    n = notifier_for(provider(kind, address="https://chat.example/hook/SECRET"))
    assert isinstance(n, cls)
    assert "SECRET" not in repr(n)


def test_defaults_and_secret_overrides() -> None:
    n = notifier_for(provider(AlertProviderType.SLACK, address="https://a/spec"))
    assert isinstance(n, Slack) and (n.channel, n.username, n.url) == ("general", "flagger", "https://a/spec")
    n = notifier_for(
        provider(
            AlertProviderType.ROCKET, address="https://a/spec", proxy="http://spec-proxy:1", secret_ref="s"
        ),
        {"address": "https://b/secret\n", "proxy": "http://secret-proxy:2"},
    )
    assert isinstance(n, Rocket) and (n.url, n.proxy) == ("https://b/secret", "http://secret-proxy:2")
    n = notifier_for(provider(AlertProviderType.SLACK, secret_ref="s"), {"token": "xoxb-1"})
    assert isinstance(n, Slack) and n.url == "https://slack.com/api/chat.postMessage"


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, 'spec.secretRef: Secret "hook" not found'),
        ({"proxy": "http://p"}, 'spec.secretRef: Secret "hook" has no "address" key'),
    ],
    ids=["missing-secret", "no-address"],
)
def test_secret_problems(secret: dict[str, str] | None, expected: str) -> None:
    with pytest.raises(ValidationError) as err:
        notifier_for(provider(AlertProviderType.MSTEAMS, secret_ref="hook"), secret)
    assert str(err.value) == f"invalid AlertProvider flagger/on-call: {expected}"


def test_slack_needs_a_url_or_a_token() -> None:
    with pytest.raises(ValueError, match="a webhook URL or an API token is required"):
        Slack("")
