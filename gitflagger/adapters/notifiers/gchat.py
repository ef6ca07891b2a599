"""Google Chat incoming webhooks: a v1 ``cards`` message.

As Flagger sends it (``pkg/notifier/gchat.go``): one card whose header is
``Flagger``, subtitle ``<workload>.<namespace>`` and Flagger's favicon, then one
section per line: the message in grey bold, then each field as
``<name><br><font color=#848484><strong><value></strong></font>``.
Card text is HTML, so links are ``<a href>``. Severity does not change the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitflagger.adapters.notifiers.base import (
    Field,
    StepCommit,
    WebhookNotifier,
    with_commit,
)

FLAGGER_ICON = "https://flagger.app/favicon.png"


def _section(text: str) -> dict[str, Any]:
    return {"widgets": [{"textParagraph": {"text": text}}]}


class GChat(WebhookNotifier):
    service = "gchat"

    def payload(
        self,
        workload: str,
        namespace: str,
        message: str,
        fields: Sequence[Field],
        severity: str,
        commit: StepCommit | None = None,
    ) -> dict[str, Any]:
        sections = [_section(f"<font color=#848484><strong>{message}</strong></font>")]
        for f in with_commit(fields, commit, '<a href="{url}">{text}</a>'):
            sections.append(_section(f"{f.name}<br><font color=#848484><strong>{f.value}</strong></font>"))
        header = {"title": "Flagger", "subtitle": f"{workload}.{namespace}", "imageUrl": FLAGGER_ICON}
        return {"cards": [{"header": header, "sections": sections}]}
