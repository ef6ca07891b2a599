"""Discord, through its Slack-compatible endpoint: the webhook URL plus ``/slack``.

As Flagger does (``pkg/notifier/discord.go``): unless the URL already ends in
``/slack``, ``slack`` is joined to its path (the query is kept), and the Slack
payload is sent with colours ``good``/``danger``.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit, urlunsplit

from gitflagger.adapters.notifiers.base import DEFAULT_DELIVERY, Delivery
from gitflagger.adapters.notifiers.slack import SlackCompatible


def slack_compatible_url(url: str) -> str:
    """``https://discord.com/api/webhooks/1/abc`` → ``https://discord.com/api/webhooks/1/abc/slack``."""
    if url.endswith("/slack"):
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=posixpath.join(parts.path or "/", "slack")))


class Discord(SlackCompatible):
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
        super().__init__(
            slack_compatible_url(url), channel=channel, username=username, proxy=proxy, delivery=delivery
        )
