"""Flagger's webhook payload: accepted as Flagger sends it, refused when it could misroute a gate."""

from __future__ import annotations

import json

import pytest

from gitflagger.loadtester.payload import PayloadError, WebhookPayload


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_flagger_payload_is_read_whole() -> None:
    payload = WebhookPayload.parse(_body(
        name="podinfo", namespace="test", phase="Progressing", checksum="85d557f47b",
        metadata={"type": "cmd", "cmd": "hey http://x/", "logCmdOutput": "true"},
    ))
    assert (payload.canary, payload.phase, payload.checksum) == ("podinfo.test", "Progressing", "85d557f47b")
    assert payload.metadata["cmd"] == "hey http://x/"
    assert payload.flag("logCmdOutput") and not payload.flag("returnCmdOutput")


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("True", True), ("yes", False), ("0", False)])
def test_flags_parse_like_go(value: str, expected: bool) -> None:
    payload = WebhookPayload.parse(_body(name="a", namespace="b", metadata={"blocking": value}))
    assert payload.flag("blocking") is expected


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"not json", "decoding the request body failed"),
        (b"[]", "expected a JSON object"),
        (_body(namespace="test"), "name must be"),
        (_body(name="../x", namespace="test"), "name must be"),
        (_body(name="Podinfo", namespace="test"), "name must be"),
        (_body(name="podinfo", namespace="a.b"), "namespace must be"),
        (_body(name="podinfo", namespace="test", checksum="../approved"), "checksum must be"),
        (_body(name="podinfo", namespace="test", checksum=".."), "checksum must be"),
        (_body(name="podinfo", namespace="test", phase=3), "phase must be a string"),
        (_body(name="podinfo", namespace="test", metadata={"cmd": ["hey"]}), "map of strings"),
        (_body(name="podinfo", namespace="test", metadata="hey"), "map of strings"),
    ],
    ids=["not json", "not an object", "no name", "name with a path", "upper case", "namespace with dot",
         "checksum with a path", "checksum dot-dot", "phase not a string", "metadata list value",
         "metadata string"],
)
def test_unusable_payloads_are_refused(body: bytes, complaint: str) -> None:
    with pytest.raises(PayloadError) as err:
        WebhookPayload.parse(body)
    assert complaint in str(err.value)
