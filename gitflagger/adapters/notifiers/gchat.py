"""Google Chat incoming webhooks: a v1 ``cards`` message.

As Flagger sends it (``pkg/notifier/gchat.go``): one card whose header is
``Flagger``, subtitle ``<workload>.<namespace>`` and Flagger's favicon, then one
section per line: the message in grey bold, then each field as
``<name><br><font color=#848484><strong><value></strong></font>``.
Card text is HTML, so links are ``<a href>``. Severity does not change the card.
"""

from __future__ import annotations

from typing import Any

from gitflagger.adapters.notifiers.base import ChatMessage, WebhookNotifier

FLAGGER_ICON = "https://flagger.app/favicon.png"


def _section(text: str) -> dict[str, Any]:
    return {"widgets": [{"textParagraph": {"text": text}}]}


class GChat(WebhookNotifier):
    service = "gchat"

    def payload(self, message: ChatMessage) -> dict[str, Any]:
        sections = [_section(f"<font color=#848484><strong>{message.text}</strong></font>")]
        for f in message.fields_with_commit('<a href="{url}">{text}</a>'):
            sections.append(_section(f"{f.name}<br><font color=#848484><strong>{f.value}</strong></font>"))
        header = {"title": "Flagger", "subtitle": message.subject, "imageUrl": FLAGGER_ICON}
        return {"cards": [{"header": header, "sections": sections}]}
