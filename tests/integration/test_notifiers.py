"""Chat notifiers against real HTTP servers on loopback: the exact payload each service receives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gitflagger.adapters.notifiers import (
    ChatMessage,
    Delivery,
    Discord,
    Field,
    GChat,
    MSTeams,
    NotificationError,
    Rocket,
    Slack,
    StepCommit,
    notifier_for,
)
from gitflagger.adapters.webhooks import RetryPolicy
from gitflagger.decide import Severity
from gitflagger.model.templates import AlertProvider, AlertProviderType
from tests.unit.adapters.loopback import LoopbackServer, Reply, closed_port_url

FAST = Delivery(timeout=1.0, retries=2, retry=RetryPolicy(wait_min=0.01, wait_max=0.05))
FIELDS = [Field("Target", "Deployment/podinfo.test"), Field("Failed checks threshold", "5")]
COMMIT = StepCommit("3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a", "https://git.example/cfg/commit/3f1c2b9a8d7e")
MESSAGE = "Rolling back podinfo.test failed checks threshold reached 5"
PLAIN = ChatMessage("podinfo", "test", MESSAGE)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def slack_like(color: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "channel": "deploys",
        "username": "gitflagger",
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [
            {
                "color": color,
                "author_name": "podinfo.test",
                "text": MESSAGE,
                "mrkdwn_in": ["text"],
                "fields": fields,
            }
        ],
    }


SLACK_FIELDS = [
    {"title": "Target", "value": "Deployment/podinfo.test", "short": False},
    {"title": "Failed checks threshold", "value": "5", "short": False},
]


@pytest.mark.parametrize(("severity", "color"), [("error", "danger"), ("warn", "good"), ("info", "good")])
def test_slack_payload(server: LoopbackServer, severity: str, color: str) -> None:
    Slack(server.url + "/services/T0/B0/x", channel="deploys", username="gitflagger", delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, FIELDS, Severity(severity))
    )
    (req,) = server.requests
    assert (req.method, req.path, req.headers["content-type"]) == (
        "POST",
        "/services/T0/B0/x",
        "application/json",
    )
    assert "authorization" not in req.headers
    assert req.json() == slack_like(color, SLACK_FIELDS)
    assert list(req.json()) == ["channel", "username", "icon_url", "icon_emoji", "attachments"]


def test_slack_links_the_step_commit(server: LoopbackServer) -> None:
    Slack(server.url, channel="deploys", username="gitflagger", delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, FIELDS, Severity("error"), commit=COMMIT)
    )
    commit_field = {"title": "Commit", "value": f"<{COMMIT.url}|3f1c2b9a8d7e>", "short": False}
    assert server.requests[0].json() == slack_like("danger", [*SLACK_FIELDS, commit_field])


def test_slack_api_token_mode(server: LoopbackServer) -> None:
    server.script(Reply(body={"ok": True}), Reply(body={"ok": False, "error": "channel_not_found"}))
    slack = Slack(server.url + "/api/chat.postMessage", channel="deploys", token="xoxb-123", delivery=FAST)
    slack.post(PLAIN)
    assert server.requests[0].headers["authorization"] == "Bearer xoxb-123"
    with pytest.raises(
        NotificationError, match=r"slack chat\.postMessage refused the message: channel_not_found"
    ):
        slack.post(PLAIN)


def test_discord_posts_the_slack_payload_to_the_slack_endpoint(server: LoopbackServer) -> None:
    Discord(server.url + "/api/webhooks/1/tok", channel="deploys", username="gitflagger", delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, FIELDS, Severity("error"))
    )
    (req,) = server.requests
    assert req.path == "/api/webhooks/1/tok/slack"
    assert req.json() == slack_like("danger", SLACK_FIELDS)


@pytest.mark.parametrize(("severity", "color"), [("error", "#FF0000"), ("info", "#0076D7")])
def test_rocket_payload(server: LoopbackServer, severity: str, color: str) -> None:
    Rocket(server.url + "/hooks/abc", channel="deploys", username="gitflagger", delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, FIELDS, Severity(severity), commit=COMMIT)
    )
    commit_field = {"title": "Commit", "value": f"[3f1c2b9a8d7e]({COMMIT.url})", "short": False}
    assert server.requests[0].json() == slack_like(color, [*SLACK_FIELDS, commit_field])


@pytest.mark.parametrize(("severity", "color"), [("error", "FF0000"), ("warn", "0076D7")])
def test_msteams_message_card(server: LoopbackServer, severity: str, color: str) -> None:
    MSTeams(server.url + "/webhookb2/x", delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, FIELDS, Severity(severity), commit=COMMIT)
    )
    assert server.requests[0].json() == {
        "@type": "MessageCard",
        "@context": "http://schema.org/extensions",
        "themeColor": color,
        "summary": "podinfo.test",
        "sections": [
            {
                "activityTitle": MESSAGE,
                "activitySubtitle": "podinfo.test",
                "facts": [
                    {"name": "Target", "value": "Deployment/podinfo.test"},
                    {"name": "Failed checks threshold", "value": "5"},
                    {"name": "Commit", "value": f"[3f1c2b9a8d7e]({COMMIT.url})"},
                ],
            }
        ],
    }


def test_gchat_card(server: LoopbackServer) -> None:
    GChat(server.url + "/v1/spaces/x/messages?key=k", delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, FIELDS[:1], Severity("error"), commit=StepCommit("abc123"))
    )
    (req,) = server.requests
    assert req.query == {"key": ["k"]}

    def section(text: str) -> dict[str, Any]:
        return {"widgets": [{"textParagraph": {"text": text}}]}

    assert req.json() == {
        "cards": [
            {
                "header": {
                    "title": "Flagger",
                    "subtitle": "podinfo.test",
                    "imageUrl": "https://flagger.app/favicon.png",
                },
                "sections": [
                    section(f"<font color=#848484><strong>{MESSAGE}</strong></font>"),
                    section("Target<br><font color=#848484><strong>Deployment/podinfo.test</strong></font>"),
                    section("Commit<br><font color=#848484><strong>abc123</strong></font>"),
                ],
            }
        ]
    }


def test_proxy_is_used(server: LoopbackServer) -> None:
    notifier = notifier_for(
        AlertProvider(
            "chat", "flagger", AlertProviderType.MSTEAMS, "http://teams.invalid/webhook/x", proxy=server.url
        ),
        delivery=FAST,
    )
    notifier.post(PLAIN)
    (req,) = server.requests
    assert req.path == "http://teams.invalid/webhook/x"  # absolute form: the request went through the proxy
    assert req.json()["summary"] == "podinfo.test"


def test_alert_provider_with_secret_address(server: LoopbackServer) -> None:
    provider = AlertProvider("chat", "flagger", AlertProviderType.SLACK, channel="ops", secret_ref="hook")
    notifier_for(provider, {"address": server.url + "/from-secret"}, delivery=FAST).post(
        ChatMessage("podinfo", "test", MESSAGE, [], Severity("warn"))
    )
    (req,) = server.requests
    assert req.path == "/from-secret"
    assert (req.json()["channel"], req.json()["username"]) == ("ops", "flagger")


@pytest.mark.parametrize(
    ("replies", "attempts", "expected"),
    [
        ([Reply(500, "boom", {"Content-Type": "text/plain"})], 3, "HTTP 500 after 3 attempts: boom"),
        ([Reply(404, "no_team", {"Content-Type": "text/plain"})], 1, "HTTP 404: no_team"),
        ([Reply(503), Reply(200)], 2, None),
    ],
    ids=["5xx-retried", "4xx-final", "recovers"],
)
def test_delivery_failures(
    server: LoopbackServer, replies: list[Reply], attempts: int, expected: str | None
) -> None:
    server.script(*replies)
    slack = Slack(server.url + "/services/T0/B0/SECRET?token=t", delivery=FAST)
    if expected is None:
        slack.post(PLAIN)
    else:
        with pytest.raises(NotificationError) as err:
            slack.post(PLAIN)
        assert str(err.value) == f"slack {server.url}: {expected}"  # the hook path is the secret: never shown
    assert len(server.requests) == attempts


def test_unreachable_and_hung_services(server: LoopbackServer) -> None:
    url = closed_port_url()
    with pytest.raises(NotificationError) as err:
        GChat(url + "/v1/spaces/x", delivery=FAST).post(PLAIN)
    assert str(err.value) == f"gchat {url}: cannot connect after 3 attempts: connection refused"
    server.script(Reply(hang=True))
    slow = Delivery(timeout=0.2, retries=0)
    with pytest.raises(NotificationError) as err:
        MSTeams(server.url + "/hook", delivery=slow).post(PLAIN)
    assert str(err.value) == f"msteams {server.url}: no answer within 0.2s (timeout)"


def test_a_malformed_token_is_refused_without_being_quoted(server: LoopbackServer) -> None:
    slack = Slack(server.url, token="xoxb-secret\nInjected: 1", delivery=FAST)
    with pytest.raises(NotificationError) as err:
        slack.post(PLAIN)
    assert str(err.value) == f"slack {server.url}: invalid request header value"
    assert server.requests == []
