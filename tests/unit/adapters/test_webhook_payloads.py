"""Webhook payloads, Go-compatible JSON, URL redaction and the backoff schedule (no network)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gitflagger.adapters.webhooks import RetryPolicy, display_url, event_payload, go_json, hook_payload
from tests.unit.adapters.canaries import canary


def test_hook_payload_is_flaggers_canary_webhook_payload() -> None:
    payload = hook_payload(canary(), "Progressing", "abc123", {"type": "bash", "cmd": "curl"})
    assert payload == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "abc123",
        "metadata": {"cmd": "curl", "type": "bash"},
    }
    assert list(payload) == ["name", "namespace", "phase", "checksum", "metadata"]


def test_empty_metadata_is_omitted_and_checksum_always_present() -> None:
    assert hook_payload(canary(), "Waiting", "", {}) == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Waiting",
        "checksum": "",
    }


def test_event_payload_carries_the_event_and_never_lets_metadata_override_it() -> None:
    now = datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    payload = event_payload(
        canary(),
        "Progressing",
        "sum",
        "Advance podinfo.test canary weight 20",
        event_type="Normal",
        now=now,
        metadata={"eventMessage": "spoofed", "team": "web"},
    )
    assert payload["metadata"] == {
        "eventMessage": "Advance podinfo.test canary weight 20",
        "eventType": "Normal",
        "team": "web",
        "timestamp": "1704164645678",
    }


def test_go_json_is_compact_utf8_and_html_safe() -> None:
    data = go_json({"b": "<a&b> é", "a": [1, True, None]})
    assert data == b'{"b":"\\u003ca\\u0026b\\u003e \xc3\xa9","a":[1,true,null]}'
    assert json.loads(data) == {"b": "<a&b> é", "a": [1, True, None]}


@pytest.mark.parametrize(
    ("url", "path", "expected"),
    [
        ("http://user:pw@host:8080/hook?token=t#f", True, "http://host:8080/hook"),
        ("https://hooks.slack.com/services/T/B/SECRET", False, "https://hooks.slack.com"),
        ("not a url", True, "(invalid URL)"),
        ("http://[::1", True, "(invalid URL)"),
    ],
    ids=["userinfo-query-fragment", "no-path", "no-scheme", "unparsable"],
)
def test_display_url_hides_credentials(url: str, path: bool, expected: str) -> None:
    assert display_url(url, path=path) == expected


def test_backoff_doubles_and_is_bounded() -> None:
    policy = RetryPolicy(wait_min=1.0, wait_max=30.0)
    assert [policy.wait(n) for n in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.wait(10_000) == 30
    assert policy.wait(0, retry_after=3) == 3
    assert policy.wait(0, retry_after=3600) == 30
    assert policy.wait(0, retry_after=-5) == 0
