"""Webhooks against real HTTP(S) servers on loopback: payloads, retries, timeouts, hangs, refusals, TLS."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gitflagger.adapters.webhooks import RetryPolicy, call_webhook, run_gates, send_event, send_events
from gitflagger.decide.observation import WebhookResult
from gitflagger.model.canary import WebhookType
from tests.unit.adapters.canaries import canary, webhook
from tests.unit.adapters.loopback import LoopbackServer, Reply, closed_port_url, self_signed_tls

FAST = RetryPolicy(wait_min=0.01, wait_max=0.05)
NOW = datetime(2024, 5, 6, 7, 8, 9, 123_000, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


def test_posts_flaggers_payload(server: LoopbackServer) -> None:
    hook = webhook("load-test", server.url + "/gate/check", metadata={"type": "cmd", "cmd": "hey -z 1m"})
    result = call_webhook(hook, canary(), "Progressing", "6c3f9a", retry=FAST)
    assert result == WebhookResult("load-test", True, f"POST {server.url}/gate/check: HTTP 200")
    (req,) = server.requests
    assert (req.method, req.path, req.headers["content-type"]) == ("POST", "/gate/check", "application/json")
    assert req.body == (
        b'{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"6c3f9a",'
        b'"metadata":{"cmd":"hey -z 1m","type":"cmd"}}'
    )


def test_no_metadata_no_metadata_key(server: LoopbackServer) -> None:
    call_webhook(webhook("gate", server.url), canary(), "Waiting", "", retry=FAST)
    assert server.requests[0].json() == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Waiting",
        "checksum": "",
    }


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_any_2xx_passes(server: LoopbackServer, status: int) -> None:
    server.script(Reply(status))
    assert call_webhook(webhook("gate", server.url), canary(), "Waiting", "", retry=FAST).ok is True


@pytest.mark.parametrize(
    ("status", "requests_made", "message"),
    [
        (500, 3, "HTTP 500 after 3 attempts: gate closed"),
        (503, 3, "HTTP 503 after 3 attempts: gate closed"),
        (429, 3, "HTTP 429 after 3 attempts: gate closed"),
        (501, 1, "HTTP 501: gate closed"),
        (400, 1, "HTTP 400: gate closed"),
        (403, 1, "HTTP 403: gate closed"),
        (404, 1, "HTTP 404: gate closed"),
    ],
)
def test_failures_and_which_ones_are_retried(
    server: LoopbackServer, status: int, requests_made: int, message: str
) -> None:
    server.script(Reply(status, "gate closed", {"Content-Type": "text/plain"}))
    result = call_webhook(webhook("gate", server.url, retries=2), canary(), "Progressing", "", retry=FAST)
    assert result.ok is False
    assert result.message == f"POST {server.url}: {message}"
    assert len(server.requests) == requests_made


def test_redirects_are_followed_like_gos_client(server: LoopbackServer) -> None:
    server.respond_with(
        lambda req: Reply(302, headers={"Location": "/moved"}) if req.path == "/" else Reply(204)
    )
    assert call_webhook(webhook("gate", server.url), canary(), "Progressing", "", retry=FAST).ok is True
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/"), ("GET", "/moved")]


def test_retries_until_the_hook_recovers(server: LoopbackServer) -> None:
    server.script(Reply(502), Reply(503, headers={"Retry-After": "0"}), Reply(200))
    result = call_webhook(webhook("flaky", server.url, retries=5), canary(), "Progressing", "", retry=FAST)
    assert result.ok is True
    assert len(server.requests) == 3
    assert {r.body for r in server.requests} == {server.requests[0].body}


def test_no_retries_by_default(server: LoopbackServer) -> None:
    server.script(Reply(500))
    assert call_webhook(webhook("gate", server.url), canary(), "Progressing", "", retry=FAST).ok is False
    assert len(server.requests) == 1


def test_a_slow_hook_times_out_on_every_attempt(server: LoopbackServer) -> None:
    server.script(Reply(200, delay=3.0))
    hook = webhook("slow", server.url, timeout="200ms", retries=1)
    result = call_webhook(hook, canary(), "Progressing", "", retry=FAST)
    assert result == WebhookResult(
        "slow", False, f"POST {server.url}: no answer within 0.2s (timeout) after 2 attempts"
    )
    assert len(server.requests) == 2


def test_a_hung_hook_is_not_ok(server: LoopbackServer) -> None:
    server.script(Reply(hang=True))
    result = call_webhook(
        webhook("hung", server.url, timeout="300ms"), canary(), "Progressing", "", retry=FAST
    )
    assert result == WebhookResult("hung", False, f"POST {server.url}: no answer within 0.3s (timeout)")


def test_a_dropped_connection_is_not_ok(server: LoopbackServer) -> None:
    server.script(Reply(drop=True))
    result = call_webhook(webhook("drop", server.url), canary(), "Progressing", "", retry=FAST)
    assert result.message == f"POST {server.url}: connection closed by the server without an answer"


def test_connection_refused_is_retried_then_reported() -> None:
    url = closed_port_url()
    result = call_webhook(webhook("down", url + "/hook", retries=2), canary(), "Progressing", "", retry=FAST)
    assert result == WebhookResult(
        "down", False, f"POST {url}/hook: cannot connect after 3 attempts: connection refused"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "POST (invalid URL): invalid URL"),
        (
            "ftp://127.0.0.1/hook",
            "POST ftp://127.0.0.1/hook: invalid URL (only http:// and https:// are supported)",
        ),
        ("http://", "POST (invalid URL): invalid URL"),
        ("http://[::1/hook", "POST (invalid URL): invalid URL"),
        ("http://127.0.0.1:99999/hook", "POST http://127.0.0.1:99999/hook: invalid URL"),
    ],
    ids=["no-scheme", "ftp", "no-host", "broken-ipv6", "port-out-of-range"],
)
def test_invalid_urls_are_results_not_exceptions(url: str, expected: str) -> None:
    result = call_webhook(webhook("bad", url, retries=3), canary(), "Progressing", "", retry=FAST)
    assert result == WebhookResult("bad", False, expected)


def test_credentials_in_the_url_are_not_shown(server: LoopbackServer) -> None:
    server.script(Reply(500, "nope", {"Content-Type": "text/plain"}))
    url = server.url.replace("http://", "http://bot:pa55word@") + "/hook?token=t0k3n"
    result = call_webhook(webhook("gate", url), canary(), "Progressing", "", retry=FAST)
    assert result.message == f"POST {server.url}/hook: HTTP 500: nope"
    assert server.requests[0].headers["authorization"].startswith("Basic ")


def test_disable_tls(tmp_path: Path) -> None:
    with LoopbackServer(tls=self_signed_tls(tmp_path)) as tls_server:
        verified = call_webhook(
            webhook("tls", tls_server.url, retries=2), canary(), "Progressing", "", retry=FAST
        )
        assert verified == WebhookResult(
            "tls", False, f"POST {tls_server.url}: TLS error: certificate verify failed"
        )
        assert tls_server.requests == []  # a certificate failure is final: never retried, never sent
        hook = webhook("tls", tls_server.url, disable_tls=True)
        assert call_webhook(hook, canary(), "Progressing", "", retry=FAST).ok is True
        assert len(tls_server.requests) == 1


def test_run_gates_calls_the_requested_types_in_order(server: LoopbackServer) -> None:
    hooks = (
        webhook("approve", server.url + "/a", WebhookType.CONFIRM_ROLLOUT),
        webhook("smoke", server.url + "/b", WebhookType.PRE_ROLLOUT),
        webhook("load", server.url + "/c", WebhookType.ROLLOUT),
        webhook("events", server.url + "/d", WebhookType.EVENT),
        webhook("approve-2", server.url + "/e", WebhookType.CONFIRM_ROLLOUT),
    )
    results = run_gates(canary(webhooks=hooks), WebhookType.CONFIRM_ROLLOUT, "Waiting", "sum", retry=FAST)
    assert list(results) == ["approve", "approve-2"] and all(r.ok for r in results.values())
    both = run_gates(
        canary(webhooks=hooks), [WebhookType.ROLLOUT, WebhookType.PRE_ROLLOUT], "Progressing", "s", retry=FAST
    )
    assert list(both) == ["smoke", "load"]
    assert [r.path for r in server.requests] == ["/a", "/e", "/b", "/c"]
    assert {r.json()["phase"] for r in server.requests[2:]} == {"Progressing"}


def test_run_gates_stops_at_the_first_failure_unless_asked_not_to(server: LoopbackServer) -> None:
    server.respond_with(lambda req: Reply(403 if req.path == "/closed" else 200))
    hooks = tuple(
        webhook(name, server.url + path, WebhookType.POST_ROLLOUT)
        for name, path in (("first", "/open"), ("second", "/closed"), ("third", "/open"))
    )
    c = canary(webhooks=hooks)
    stopped = run_gates(c, WebhookType.POST_ROLLOUT, "Succeeded", "", retry=FAST)
    assert {n: r.ok for n, r in stopped.items()} == {"first": True, "second": False}
    every = run_gates(c, WebhookType.POST_ROLLOUT, "Succeeded", "", stop_on_failure=False, retry=FAST)
    assert {n: r.ok for n, r in every.items()} == {"first": True, "second": False, "third": True}


def test_run_gates_refuses_event_hooks() -> None:
    with pytest.raises(ValueError, match="event webhooks receive events"):
        run_gates(canary(), [WebhookType.EVENT], "Progressing", "")


def test_send_event_payload(server: LoopbackServer) -> None:
    hook = webhook(
        "audit", server.url + "/events", WebhookType.EVENT, metadata={"env": "prod", "eventType": "x"}
    )
    result = send_event(
        hook,
        canary(),
        "Halt podinfo.test advancement success rate 70.00% < 99%",
        "Progressing",
        checksum="c1",
        warning=True,
        now=NOW,
        retry=FAST,
    )
    assert result.ok is True
    assert server.requests[0].json() == {
        "name": "podinfo",
        "namespace": "test",
        "phase": "Progressing",
        "checksum": "c1",
        "metadata": {
            "env": "prod",
            "eventMessage": "Halt podinfo.test advancement success rate 70.00% < 99%",
            "eventType": "Warning",
            "timestamp": "1714979289123",
        },
    }


def test_send_event_to_the_global_url(server: LoopbackServer) -> None:
    result = send_event(
        server.url + "/flagger",
        canary(),
        "New revision detected podinfo.test",
        "Progressing",
        now=NOW,
        retry=FAST,
    )
    assert result == WebhookResult("events", True, f"POST {server.url}/flagger: HTTP 200")
    assert server.requests[0].json()["metadata"]["eventType"] == "Normal"


def test_canary_event_hooks_override_the_global_one(server: LoopbackServer) -> None:
    own = canary(
        webhooks=(
            webhook("a", server.url + "/own-a", WebhookType.EVENT),
            webhook("gate", server.url + "/gate", WebhookType.CONFIRM_ROLLOUT),
            webhook("b", server.url + "/own-b", WebhookType.EVENT),
        )
    )
    results = send_events(
        own, "Scaling up podinfo.test", "Progressing", global_url=server.url + "/global", now=NOW, retry=FAST
    )
    assert [r.name for r in results] == ["a", "b"]
    assert (
        send_events(
            canary(),
            "Scaling up podinfo.test",
            "Progressing",
            global_url=server.url + "/global",
            now=NOW,
            retry=FAST,
        )[0].name
        == "events"
    )
    assert send_events(canary(), "nothing configured", "Progressing", retry=FAST) == []
    assert [r.path for r in server.requests] == ["/own-a", "/own-b", "/global"]


def test_event_delivery_failure_is_reported_not_raised() -> None:
    url = closed_port_url()
    (result,) = send_events(canary(), "msg", "Failed", global_url=url, now=NOW, retry=FAST)
    assert result == WebhookResult("events", False, f"POST {url}: cannot connect: connection refused")
