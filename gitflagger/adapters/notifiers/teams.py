"""Microsoft Teams incoming webhooks: an Office 365 ``MessageCard``.

As Flagger sends it (``pkg/notifier/teams.go``): ``@type`` ``MessageCard``,
``@context`` ``http://schema.org/extensions``, ``themeColor`` ``0076D7`` (``FF0000``
for errors), ``summary`` ``<workload>.<namespace>`` and one section whose
``activityTitle`` is the message, ``activitySubtitle`` the workload and
``facts`` the fields as ``{"name", "value"}``. Facts render Markdown links.
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


class MSTeams(WebhookNotifier):
    service = "msteams"

    def payload(
        self,
        workload: str,
        namespace: str,
        message: str,
        fields: Sequence[Field],
        severity: str,
        commit: StepCommit | None = None,
    ) -> dict[str, Any]:
        facts = [{"name": f.name, "value": f.value} for f in with_commit(fields, commit, "[{text}]({url})")]
        return {
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": "FF0000" if severity == "error" else "0076D7",
            "summary": f"{workload}.{namespace}",
            "sections": [
                {"activityTitle": message, "activitySubtitle": f"{workload}.{namespace}", "facts": facts}
            ],
        }
