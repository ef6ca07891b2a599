"""Chat alerts carry no credential: every notifier posts the redacted text and fields.

An alert's text is an Event's, which may quote a webhook's answer or URL. Each
service is posted to a loopback server and the bytes it received are searched
for a random value planted as a token and as URL userinfo.
"""

from __future__ import annotations

import json
import secrets

import pytest

from gitflagger.adapters.notifiers import ChatMessage, Field, notifier_for
from gitflagger.decide import Severity
from gitflagger.model.redact import REDACTED
from gitflagger.model.templates import AlertProvider, AlertProviderType
from tests.unit.adapters.loopback import LoopbackServer


@pytest.mark.parametrize("kind", list(AlertProviderType), ids=lambda k: k.value)
def test_every_notifier_posts_redacted_text_and_fields(kind: AlertProviderType) -> None:
    secret = secrets.token_hex(16)
    text = (
        "Halt podinfo.test advancement pre-rollout check smoke failed "
        f"https://ci:{secret}@hooks.test/run?token={secret} answered 500"
    )
    message = ChatMessage(
        "podinfo", "test", text, [Field("Traffic routing", f"X-Api-Key: {secret}")], Severity.WARN
    )
    with LoopbackServer() as chat:
        notifier_for(AlertProvider("chat", "test", kind, address=chat.url + "/hook")).post(message)
        (request,) = chat.requests
    assert secret not in request.body.decode()
    body = json.dumps(request.json(), ensure_ascii=False)  # the JSON as read, its escapes undone
    assert secret not in body
    assert "pre-rollout check smoke failed" in body
    assert body.count(REDACTED) >= 3
