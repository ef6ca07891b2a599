"""Chat notifiers (Slack, MS Teams, Discord, Rocket.Chat, Google Chat), one file each.

- :mod:`.base`: the ``Notifier`` protocol, ``Severity`` and ``should_alert``, ``Field``,
  ``StepCommit``, ``NotificationError`` and the shared delivery;
- :mod:`.factory`: ``notifier_for(AlertProvider, secret)`` and Flagger's alert fields.

The global notifier of ``gitflagger run`` (``--slack-url``/``--slack-channel``/
``--slack-user``, or ``--msteams-url``) is ``Slack(url, channel=..., username=...)``
or ``MSTeams(url)``: see :mod:`gitflagger.cli.flagger_flags`.
"""

from gitflagger.adapters.notifiers.base import (
    DEFAULT_DELIVERY,
    ChatMessage,
    Delivery,
    Field,
    NotificationError,
    Notifier,
    StepCommit,
    should_alert,
)
from gitflagger.adapters.notifiers.discord import Discord
from gitflagger.adapters.notifiers.factory import canary_fields, notifier_for
from gitflagger.adapters.notifiers.gchat import GChat
from gitflagger.adapters.notifiers.rocket import Rocket
from gitflagger.adapters.notifiers.slack import Slack
from gitflagger.adapters.notifiers.teams import MSTeams
from gitflagger.decide.events import Severity

__all__ = [
    "DEFAULT_DELIVERY",
    "ChatMessage",
    "Delivery",
    "Discord",
    "Field",
    "GChat",
    "MSTeams",
    "NotificationError",
    "Notifier",
    "Rocket",
    "Severity",
    "Slack",
    "StepCommit",
    "canary_fields",
    "notifier_for",
    "should_alert",
]
