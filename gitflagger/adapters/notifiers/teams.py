"""Microsoft Teams incoming webhooks: an Office 365 ``MessageCard``.

As Flagger sends it (``pkg/notifier/teams.go``): ``@type`` ``MessageCard``,
``@context`` ``http://schema.org/extensions``, ``themeColor`` ``0076D7`` (``FF0000``
for errors), ``summary`` ``<workload>.<namespace>`` and one section whose
``activityTitle`` is the message, ``activitySubtitle`` the workload and
``facts`` the fields as ``{"name", "value"}``. Facts render Markdown links.
"""

from __future__ import annotations

from typing import Any

from gitflagger.adapters.notifiers.base import ChatMessage, WebhookNotifier
from gitflagger.decide.events import Severity


class MSTeams(WebhookNotifier):
    service = "msteams"

    def payload(self, message: ChatMessage) -> dict[str, Any]:
        facts = [{"name": f.name, "value": f.value} for f in message.fields_with_commit("[{text}]({url})")]
        return {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": "FF0000" if message.severity == Severity.ERROR else "0076D7",
            "summary": message.subject,
            "sections": [
                {"activityTitle": message.text, "activitySubtitle": message.subject, "facts": facts}
            ],
        }
