"""Splunk Observability: SignalFlow over a WebSocket, and ``GET /v2/metric`` for the online check.

API reference followed:
https://dev.splunk.com/observability/reference/api/signalflow/latest (``GET /connect``:
the WebSocket, then an ``authenticate`` message within 5 seconds), the request
messages at https://developers.signalfx.com/signalflow_analytics/websocket_request_messages.html
(``authenticate``, ``execute``; an invalid token closes the connection), the stream
messages at https://developers.signalfx.com/signalflow_analytics/rest_api_messages/stream_messages_specification.html
(control, metadata, error and binary data messages: a 20-byte header of version,
type, flags, reserved and a 16-byte channel name; then a timestamp, a count and
17 bytes per point: value type, TSID, 8 value bytes), and
https://dev.splunk.com/observability/reference/api/metrics_metadata/latest (``GET /v2/metric``).

:class:`SignalFlowServer` is a real WebSocket server on 127.0.0.1 (the ``websockets``
library) that also answers plain HTTP, so one address serves both hosts of a realm
as the provider derives them. It checks every field of every message and answers
the scenario a test selects: ``value``, ``empty``, ``null`` (a NaN point), ``error``
(a computation error message), ``401``/``403`` (an error message without channel,
then the connection closed, as for a refused token), ``429`` (the upgrade refused
with Retry-After), ``slow``, and ``multiple`` (points of two time series). Anything
else is an error message with code 400 naming the violations, which are kept in
:attr:`violations`.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import logging
import struct
import threading
import time
from collections.abc import Mapping
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response
from websockets.sync.server import Server, ServerConnection, serve

from tests.integration.contracts.base import RETRY_AFTER, Contract, expect, expect_secret
from tests.unit.adapters.loopback import Request

QUERY = (
    "data('spans.count', filter=filter('sf_service', 'podinfo') and filter('sf_error', 'true'))"
    ".sum().publish()"
)
TOKEN = "sf_token_key"
TSID, OTHER_TSID = 0x0A1B2C3D4E5F6071, 0x0102030405060708
QUIET = logging.Logger("splunk-contract", logging.CRITICAL + 1)
"""The server's frame log would show the token; the test looks for it in every log line."""
EXECUTE_FIELDS = {
    "type",
    "program",
    "channel",
    "start",
    "stop",
    "resolution",
    "maxDelay",
    "immediate",
    "timezone",
}


def _check_upgrade(req: Request, creds: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    expect(problems, "request", (req.method, req.path), ("GET", "/v2/signalflow/connect"))
    expect(problems, "Upgrade header", req.headers.get("upgrade", "").lower(), "websocket")
    return problems


def _check_online(req: Request, creds: Mapping[str, str]) -> list[str]:
    problems: list[str] = []
    expect(problems, "request", (req.method, req.path), ("GET", "/v2/metric?limit=1"))
    expect_secret(problems, "X-SF-Token", req.headers.get("x-sf-token"), creds[TOKEN])
    return problems


def check_execute(message: Any, now_ms: float) -> list[str]:
    """Violations of the ``execute`` message Flagger sends (10 intervals of 1m back to now)."""
    problems: list[str] = []
    if not isinstance(message, dict):
        return [f"execute: not a JSON object: {message!r}"]
    expect(problems, "execute fields", set(message), EXECUTE_FIELDS)
    expect(problems, "type", message.get("type"), "execute")
    expect(problems, "program", message.get("program"), QUERY)
    channel = message.get("channel")
    if not isinstance(channel, str) or not 0 < len(channel) < 16:
        problems.append(f"channel: expected a name of 1 to 15 characters, got {channel!r}")
    start, stop = message.get("start"), message.get("stop")
    if not isinstance(stop, int) or abs(stop - now_ms) > 10_000:
        problems.append(f"stop: expected now in Unix milliseconds, got {stop!r}")
    elif not isinstance(start, int) or stop - start != 600_000:
        problems.append(f"start: expected stop - 10 x 1m (600000 ms), got {start!r}")
    expect(problems, "resolution", message.get("resolution"), 0)
    expect(problems, "maxDelay", message.get("maxDelay"), 0)
    expect(problems, "immediate", message.get("immediate"), True)
    expect(problems, "timezone", message.get("timezone"), "")
    return problems


def data_message(
    channel: str, timestamp_ms: int, *points: tuple[int, int, bytes], gzipped: bool = False
) -> bytes:
    """A binary data message (version 1, type 5; flag 1: gzip-compressed body) carrying ``points``."""
    header = struct.pack(">BBBB16s", 1, 5, 1 if gzipped else 0, 0, channel.encode())
    batch = struct.pack(">QI", timestamp_ms, len(points))
    body = batch + b"".join(struct.pack(">Bq", kind, tsid) + raw for kind, tsid, raw in points)
    return header + (gzip.compress(body) if gzipped else body)


def double(tsid: int, value: float) -> tuple[int, int, bytes]:
    return 2, tsid, struct.pack(">d", value)


def long(tsid: int, value: int) -> tuple[int, int, bytes]:
    return 1, tsid, struct.pack(">q", value)


class SignalFlowServer:
    """The contract server for ``splunk``: same interface as ContractServer (url, scenario, violations...)."""

    def __init__(
        self, contract: Contract, credentials: Mapping[str, str], *, slow_seconds: float = 3.0
    ) -> None:
        self.contract = contract
        self.credentials = dict(credentials)
        self.scenario = "value"
        self.online = False
        self.violations: list[str] = []
        self.requests: list[Request] = []
        self.frames: list[str | bytes] = []
        """What scenario ``frames`` sends after JOB_START (a test's own messages), then END_OF_CHANNEL."""
        self.slow_seconds = slow_seconds
        self._stopping = threading.Event()
        self._server: Server = serve(
            self._session, "127.0.0.1", 0, process_request=self._http, logger=QUIET, compression=None
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def __enter__(self) -> SignalFlowServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._thread.join(10)

    # ---- plain HTTP: the online check, the upgrade, and everything else -----------------

    def _http(self, connection: ServerConnection, request: WsRequest) -> Response | None:
        req = Request("GET", request.path, {k.lower(): v for k, v in request.headers.raw_items()}, b"")
        self.requests.append(req)
        if req.path.startswith("/v2/metric"):
            problems = _check_online(req, self.credentials)
            if problems:
                return self._refuse(connection, problems)
            if self.scenario in ("401", "403", "429"):
                return _json(
                    connection,
                    int(self.scenario),
                    {"message": "Unauthorized" if self.scenario != "429" else "Too many requests"},
                )
            return _json(
                connection, 200, {"count": 1, "results": [{"name": "spans.count", "type": "COUNTER"}]}
            )
        problems = _check_upgrade(req, self.credentials)
        if problems:
            return self._refuse(connection, problems)
        if self.scenario == "429":
            response = _json(connection, 429, {"message": "Too many requests"})
            response.headers["Retry-After"] = RETRY_AFTER
            return response
        return None

    def _refuse(self, connection: ServerConnection, problems: list[str]) -> Response:
        self.violations += problems
        return _json(connection, 400, {"contract": problems})

    # ---- the WebSocket session -------------------------------------------------------

    def _session(self, ws: ServerConnection) -> None:
        # the client may give up (its timeout) or go away: then nothing is left to answer
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            self._converse(ws)

    def _converse(self, ws: ServerConnection) -> None:
        auth = _loads(ws.recv(timeout=5))  # the reference: authenticate within 5 seconds
        problems: list[str] = []
        expect(
            problems, "authenticate fields", set(auth) if isinstance(auth, dict) else auth, {"type", "token"}
        )
        if isinstance(auth, dict):
            expect(problems, "authenticate type", auth.get("type"), "authenticate")
            expect_secret(problems, "authenticate token", auth.get("token"), self.credentials[TOKEN])
        if problems:
            return self._violation(ws, problems, None)
        if self.scenario in ("401", "403"):
            ws.send(
                json.dumps(
                    {"type": "error", "error": int(self.scenario), "message": "Invalid or expired token"}
                )
            )
            ws.close(1008, "authentication failed")
            return
        ws.send(json.dumps({"type": "authenticated", "orgId": "AAAAAAAAAAA", "userId": "BBBBBBBBBBB"}))
        execute = _loads(ws.recv(timeout=5))
        problems = check_execute(execute, time.time() * 1000)
        channel = execute.get("channel") if isinstance(execute, dict) else None
        if problems:
            return self._violation(ws, problems, channel)
        assert isinstance(channel, str)
        self._answer(ws, channel, int(execute["stop"]))

    def _answer(self, ws: ServerConnection, channel: str, stop: int) -> None:
        def control(event: str, **more: Any) -> None:
            ws.send(
                json.dumps(
                    {
                        "type": "control-message",
                        "channel": channel,
                        "event": event,
                        "timestampMs": stop,
                        **more,
                    }
                )
            )

        if self.scenario == "slow" and self._stopping.wait(self.slow_seconds):
            return
        control("STREAM_START")
        control("JOB_START", handle="DdEeFfGgHh")
        if self.scenario == "error":
            ws.send(
                json.dumps(
                    {
                        "type": "error",
                        "channel": channel,
                        "error": 400,
                        "errorType": "ANALYTICS_PROGRAM_SYNTAX_ERROR",
                        "message": "Syntax error at line 1: unexpected token",
                    }
                )
            )
            return
        ws.send(
            json.dumps(
                {
                    "type": "metadata",
                    "channel": channel,
                    "tsId": "AAAAAKEbLD0",
                    "properties": {"sf_metric": "spans.count", "sf_resolutionMs": 60000},
                }
            )
        )
        ws.send(
            json.dumps(
                {
                    "type": "message",
                    "channel": channel,
                    "logicalTimestampMs": stop,
                    "message": {
                        "messageCode": "JOB_RUNNING_RESOLUTION",
                        "messageLevel": "INFO",
                        "contents": {"resolutionMs": 60000},
                    },
                }
            )
        )
        if self.scenario in ("value", "slow"):
            # the last point is the value, as the Go client reads it
            ws.send(data_message(channel, stop - 120_000, long(TSID, 9)))
            ws.send(data_message(channel, stop - 60_000, double(TSID, 1.25)))
        elif self.scenario == "null":
            ws.send(data_message(channel, stop - 60_000, double(TSID, float("nan"))))
        elif self.scenario == "multiple":
            ws.send(data_message(channel, stop - 60_000, double(TSID, 1.0), double(OTHER_TSID, 2.0)))
        elif self.scenario == "frames":
            for frame in self.frames:
                ws.send(frame)
        control("END_OF_CHANNEL")
        ws.recv(timeout=5)  # until the client closes

    def _violation(self, ws: ServerConnection, problems: list[str], channel: object) -> None:
        self.violations += problems
        error: dict[str, Any] = {"type": "error", "error": 400, "message": f"contract: {problems}"}
        if isinstance(channel, str):
            error["channel"] = channel
        ws.send(json.dumps(error))
        ws.close(1008, "contract violation")


def _loads(frame: str | bytes) -> Any:
    try:
        return json.loads(frame)
    except ValueError:
        return frame


def _json(connection: ServerConnection, status: int, body: Any) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


CONTRACT = Contract(
    provider="splunk",
    api_page="https://dev.splunk.com/observability/reference/api/signalflow/latest",
    query=QUERY,
    interval="1m",
    expected_value=1.25,
    check=_check_upgrade,
    online_check=_check_online,
    answers={},
    credentials=lambda key: {TOKEN: key},
    server=SignalFlowServer,
)
