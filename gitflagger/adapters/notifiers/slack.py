"""Slack: an incoming webhook, or ``chat.postMessage`` with a bot token.

Flagger's payload (``pkg/notifier/slack.go``): ``channel``, ``username``,
``icon_url`` (empty), ``icon_emoji`` ``:rocket:`` and one attachment with
``color`` (``danger`` for errors, else ``good``), ``author_name``
``<workload>.<namespace>``, the message as ``text``, ``mrkdwn_in: ["text"]``
and the fields as ``{"title", "value", "short": false}``.
Discord and Rocket.Chat accept the same shape (see their modules).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gitflagger.adapters.notifiers.base import (
    DEFAULT_DELIVERY,
    ChatMessage,
    Delivery,
    Field,
    NotificationError,
    WebhookNotifier,
    deliver,
)
from gitflagger.decide.events import Severity

SLACK_API_POST_MESSAGE = "https://slack.com/api/chat.postMessage"
SLACK_LINK = "<{url}|{text}>"


def slack_payload(
    channel: str, username: str, subject: str, text: str, fields: Sequence[Field], *, color: str
) -> dict[str, Any]:
    """The Slack-compatible message Flagger sends (key order as Go marshals it)."""
    return {
        "channel": channel,
        "username": username,
        "icon_url": "",
        "icon_emoji": ":rocket:",
        "attachments": [
            {
                "color": color,
                "author_name": subject,
                "text": text,
                "mrkdwn_in": ["text"],
                "fields": [{"title": f.name, "value": f.value, "short": False} for f in fields],
            }
        ],
    }


class SlackCompatible(WebhookNotifier):
    """A service that takes Slack's payload at a webhook URL; Discord and Rocket.Chat derive from it.

    Subclasses change only what differs: the service name, the colours and the
    link syntax (and Discord its URL).
    """

    service = "slack"
    normal_color = "good"
    error_color = "danger"
    link = SLACK_LINK

    def __init__(
        self,
        url: str,
        *,
        channel: str = "general",
        username: str = "flagger",
        proxy: str = "",
        delivery: Delivery = DEFAULT_DELIVERY,
    ) -> None:
        super().__init__(url, proxy=proxy, delivery=delivery)
        self.channel = channel or "general"
        self.username = username or "flagger"

    def __repr__(self) -> str:  # the URL is the credential: never shown
        return f"{type(self).__name__}(channel={self.channel!r}, username={self.username!r})"

    def payload(self, message: ChatMessage) -> dict[str, Any]:
        return slack_payload(
            self.channel,
            self.username,
            message.subject,
            message.text,
            message.fields_with_commit(self.link),
            color=self.error_color if message.severity == Severity.ERROR else self.normal_color,
        )


class Slack(SlackCompatible):
    """Posts to a Slack incoming webhook (``url``), or to ``chat.postMessage`` when given a ``token``."""

    def __init__(
        self,
        url: str = "",
        *,
        channel: str = "general",
        username: str = "flagger",
        proxy: str = "",
        token: str = "",
        delivery: Delivery = DEFAULT_DELIVERY,
    ) -> None:
        url = url or (SLACK_API_POST_MESSAGE if token else "")
        if not url:
            raise ValueError("slack: a webhook URL or an API token is required")
        super().__init__(url, channel=channel, username=username, proxy=proxy, delivery=delivery)
        self._token = token

    def __repr__(self) -> str:  # the URL is the credential: never shown
        return f"Slack(channel={self.channel!r}, username={self.username!r}, api={bool(self._token)})"

    def post(self, message: ChatMessage) -> None:
        payload = self.payload(message)
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else None
        body = deliver(
            self.service, self.url, payload, proxy=self.proxy, delivery=self.delivery, headers=headers
        )
        if self._token:  # the Web API answers 200 with {"ok": false, "error": ...}
            try:
                answer = json.loads(body)
            except ValueError:
                answer = {}
            if not isinstance(answer, dict) or answer.get("ok") is not True:
                error = (
                    answer.get("error", "unreadable answer")
                    if isinstance(answer, dict)
                    else "unreadable answer"
                )
                raise NotificationError(f"slack chat.postMessage refused the message: {error}")
