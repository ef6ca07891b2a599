"""Rocket.Chat incoming webhooks: the Slack payload with Rocket's colours.

As Flagger does (``pkg/notifier/rocket.go``): ``#0076D7``, or ``#FF0000`` for errors.
Links use Rocket.Chat's Markdown, ``[text](url)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitflagger.adapters.notifiers.base import (
    DEFAULT_DELIVERY,
    Delivery,
    Field,
    StepCommit,
    deliver,
    with_commit,
)
from gitflagger.adapters.notifiers.slack import slack_payload


class Rocket:
    service = "rocket"

    def __init__(
        self,
        url: str,
        *,
        channel: str = "general",
        username: str = "flagger",
        proxy: str = "",
        delivery: Delivery = DEFAULT_DELIVERY,
    ) -> None:
        self.url = url
        self.channel = channel or "general"
        self.username = username or "flagger"
        self.proxy = proxy
        self.delivery = delivery

    def __repr__(self) -> str:
        return f"Rocket(channel={self.channel!r}, username={self.username!r})"

    def payload(
        self,
        workload: str,
        namespace: str,
        message: str,
        fields: Sequence[Field],
        severity: str,
        commit: StepCommit | None = None,
    ) -> dict[str, Any]:
        color = "#FF0000" if severity == "error" else "#0076D7"
        return slack_payload(
            self.channel,
            self.username,
            workload,
            namespace,
            message,
            with_commit(fields, commit, "[{text}]({url})"),
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
