"""Rocket.Chat incoming webhooks: the Slack payload with Rocket's colours.

As Flagger does (``pkg/notifier/rocket.go``): ``#0076D7``, or ``#FF0000`` for errors.
Links use Rocket.Chat's Markdown, ``[text](url)``.
"""

from __future__ import annotations

from gitflagger.adapters.notifiers.slack import SlackCompatible


class Rocket(SlackCompatible):
    service = "rocket"
    normal_color = "#0076D7"
    error_color = "#FF0000"
    link = "[{text}]({url})"
