"""Redaction of credentials from text and webhook metadata: one table, each row a place people put them."""

from __future__ import annotations

import pytest

from gitflagger.model.redact import (
    REDACTED,
    redact_canary_spec,
    redact_metadata,
    redact_text,
    sensitive_name,
)

S = "s3cr3tVALUE"
R = REDACTED

CASES = {
    "bearer header, single quotes": (f"curl -H 'Authorization: Bearer {S}' http://x/",
                                     f"curl -H 'Authorization: Bearer {R}' http://x/"),
    "bearer header, double quotes": (f'hey -H "Authorization: bearer {S}" http://x/',
                                     f'hey -H "Authorization: bearer {R}" http://x/'),
    "basic header": (f"-H 'authorization:Basic {S}'", f"-H 'authorization:Basic {R}'"),
    "basic header, escaped space": (f"-H Authorization:Basic\\ {S} http://x/",
                                    f"-H Authorization:Basic {R} http://x/"),
    "header without a scheme": (f"Authorization: {S}", f"Authorization: {R}"),
    "proxy authorization": (f"Proxy-Authorization: Bearer {S}", f"Proxy-Authorization: Bearer {R}"),
    "api key header": (f"-H 'X-API-Key: {S}'", f"-H 'X-API-Key: {R}'"),
    "private token header": (f"-H 'PRIVATE-TOKEN: {S}'", f"-H 'PRIVATE-TOKEN: {R}'"),
    "cookie header": (f"-H 'Cookie: {S}'", f"-H 'Cookie: {R}'"),
    "header after -H, unquoted": (f"curl -H X-Vault-Token:{S} http://x/", f"curl -H X-Vault-Token:{R} http://x/"),
    "header at a line start": (f"HTTP/1.1 401\nx-api-key: {S}\n", f"HTTP/1.1 401\nx-api-key: {R}\n"),
    "userinfo user:pass": (f"curl https://bob:{S}@h.example/x", f"curl https://{R}@h.example/x"),
    "userinfo token only": (f"git clone https://{S}@h.example/r.git", f"git clone https://{R}@h.example/r.git"),
    "query token": (f"http://h/x?token={S}&page=2", f"http://h/x?token={R}&page=2"),
    "query api_key second": (f"http://h/x?a=1&api_key={S}", f"http://h/x?a=1&api_key={R}"),
    "query apikey": (f"http://h/?apikey={S}", f"http://h/?apikey={R}"),
    "query access_token": (f"http://h/?access_token={S}#f", f"http://h/?access_token={R}#f"),
    "query key": (f"http://h/?key={S}", f"http://h/?key={R}"),
    "query secret": (f"http://h/?client_secret={S}", f"http://h/?client_secret={R}"),
    "query password": (f"http://h/?password={S}", f"http://h/?password={R}"),
    "query signature (S3 presigned)": (f"http://h/o?X-Amz-Signature={S}&X-Amz-Credential={S}",
                                       f"http://h/o?X-Amz-Signature={R}&X-Amz-Credential={R}"),
    "query sig": (f"http://h/?sv=1&sig={S}", f"http://h/?sv=1&sig={R}"),
    "form body": (f"-d 'user=bob&password={S}'", f"-d 'user=bob&password={R}'"),
    "json body": (f'-d \'{{"password": "{S}", "n": 1}}\'', f'-d \'{{"password": "{R}", "n": 1}}\''),
    "json, prefixed annotation key": (f'{{"example.com/api-token":"{S}","a":"b"}}',
                                      f'{{"example.com/api-token":"{R}","a":"b"}}'),
    "json body, escaped quote": (f'{{"token":"a\\"{S}"}}', f'{{"token":"{R}"}}'),
    "curl -u": (f"curl -u bob:{S} http://x/", f"curl -u {R} http://x/"),
    "curl --user=": (f"curl --user=bob:{S} http://x/", f"curl --user={R} http://x/"),
    "curl --oauth2-bearer quoted": (f"curl --oauth2-bearer '{S}' http://x/", f"curl --oauth2-bearer '{R}' http://x/"),
    "curl --proxy-user": (f"curl --proxy-user a:{S} http://x/", f"curl --proxy-user {R} http://x/"),
    "several at once": (f"curl -H 'Authorization: Bearer {S}' https://u:{S}@h/?token={S}",
                        f"curl -H 'Authorization: Bearer {R}' https://{R}@h/?token={R}"),
}

UNCHANGED = [
    "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
    "curl -s -o /dev/null -w '%{http_code}' http://podinfo-canary.test:9898/healthz",
    "exit code: 22",
    "Author: Alice <alice@example.com>",
    "http://h/search?q=tokens&page=2",
    "monkey=1 turkey: 2",
    "Prometheus query failed for token-errors: connection refused",
    "Halt advancement no values found for custom metric: session: bad_data",
    "git@github.com:org/repo.git",
    "POST http://flagger-loadtester.test/: HTTP 500: command failed: exit status 22",
    "- request-success-rate: 99.95 (min 99) pass",
    "",
]


@pytest.mark.parametrize(("text", "expected"), CASES.values(), ids=CASES.keys())
def test_credentials_are_redacted(text: str, expected: str) -> None:
    assert redact_text(text) == expected
    assert S not in redact_text(text)
    assert redact_text(expected) == expected  # idempotent: redacting twice changes nothing more


@pytest.mark.parametrize("text", UNCHANGED)
def test_text_without_credentials_is_unchanged(text: str) -> None:
    assert redact_text(text) == text


@pytest.mark.parametrize(
    ("name", "sensitive"),
    [("token", True), ("X-Auth-Token", True), ("apiKey", True), ("api-key", True), ("password", True),
     ("basic_auth", True), ("example.com/api-token", True), ("example.com/owner", False),
     ("Authorization", True), ("key", True), ("sig", True), ("clientSecret", True),
     ("author", False), ("monkey", False), ("cmd", False), ("url", False), ("type", False)],
)
def test_sensitive_names(name: str, sensitive: bool) -> None:
    assert sensitive_name(name) is sensitive


def test_metadata_values_under_sensitive_keys_go_whole_and_others_are_scanned() -> None:
    metadata = {"cmd": f"curl -H 'Authorization: Bearer {S}' http://x/", "token": "short",
                "apiKey": "k", "type": "cmd", "nested": {"password": "p", "url": f"http://h/?key={S}"}}
    assert redact_metadata(metadata) == {
        "cmd": f"curl -H 'Authorization: Bearer {R}' http://x/", "token": R, "apiKey": R, "type": "cmd",
        "nested": {"password": R, "url": f"http://h/?key={R}"},
    }


def test_canary_spec_redaction_copies_and_leaves_the_input_alone() -> None:
    hook = {"name": "load", "url": f"http://bob:{S}@lt/?token={S}", "metadata": {"cmd": f"curl -u a:{S} http://x/"}}
    spec = {"analysis": {"interval": "1m", "webhooks": [hook]}, "service": {"port": 80}}
    out = redact_canary_spec(spec)
    assert S not in repr(out)
    assert out["analysis"]["webhooks"][0] == {
        "name": "load", "url": f"http://{R}@lt/?token={R}", "metadata": {"cmd": f"curl -u {R} http://x/"}}
    assert out["service"] == {"port": 80} and out["analysis"]["interval"] == "1m"
    assert S in repr(spec)  # the live Canary's spec (what the webhook is sent with) is untouched
