"""Discord, through its Slack-compatible endpoint: the webhook URL plus ``/slack``.

As Flagger does (``pkg/notifier/discord.go``): unless the URL already ends in
``/slack``, ``slack`` is joined to its path (the query is kept), and the Slack
payload is sent with colours ``good``/``danger``.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from gitflagger.adapters.notifiers.base import (
    DEFAULT_DELIVERY,
    Delivery,
    Field,
    StepCommit,
    deliver,
    with_commit,
)
from gitflagger.adapters.notifiers.slack import SLACK_LINK, slack_payload


def slack_compatible_url(url: str) -> str:
    """``https://discord.com/api/webhooks/1/abc`` → ``https://discord.com/api/webhooks/1/abc/slack``."""
    if url.endswith("/slack"):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=posixpath.join(parts.path or "/", "slack")))


class Discord:
    service = "discord"

    def __init__(
        self,
        url: str,
        *,
        channel: str = "general",
        username: str = "flagger",
        proxy: str = "",
        delivery: Delivery = DEFAULT_DELIVERY,
    ) -> None:
        self.url = slack_compatible_url(url)
        self.channel = channel or "general"
        self.username = username or "flagger"
        self.proxy = proxy
        self.delivery = delivery

    def __repr__(self) -> str:
        return f"Discord(channel={self.channel!r}, username={self.username!r})"

    def payload(
        self,
        workload: str,
        namespace: str,
        message: str,
        fields: Sequence[Field],
        severity: str,
        commit: StepCommit | None = None,
    ) -> dict[str, Any]:
        color = "danger" if severity == "error" else "good"
        return slack_payload(
            self.channel,
            self.username,
            workload,
            namespace,
            message,
            with_commit(fields, commit, SLACK_LINK),
            color=color,
        )

    def post(
        self,
        workload: str,
        namespace: str,
        message: str,
        fields: Sequence[Field],
        severity: str,
        *,
        commit: StepCommit | None = None,
    ) -> None:
        payload = self.payload(workload, namespace, message, fields, severity, commit)
        deliver(self.service, self.url, payload, proxy=self.proxy, delivery=self.delivery)
