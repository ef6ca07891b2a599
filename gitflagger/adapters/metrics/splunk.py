"""Splunk Observability (SignalFx): one SignalFlow program over a WebSocket, read the way Flagger reads it.

Kept from Flagger's ``pkg/metrics/providers/splunk.go`` and the SignalFlow Go
client it uses:

- ``spec.provider.address`` is required (there is no default): the API address
  of the realm, ``https://api.<realm>.signalfx.com``. The program runs on the
  stream host of the same realm, ``wss://stream.<realm>.signalfx.com``, at
  ``/v2/signalflow/connect``; ``http`` becomes ``ws`` and ``https`` ``wss``
  (a ``wss://stream...`` address works too);
- the token is the Secret's ``sf_token_key``, sent in the ``authenticate``
  message right after connecting;
- one ``execute`` message: the program, ``start`` = now − 10 × interval and
  ``stop`` = now (Unix milliseconds), ``immediate: true``, and the Go client's
  other fields as it sends them (``resolution`` 0, ``maxDelay`` 0, ``timezone``
  empty);
- every data point until the channel ends is collected; none is "no values
  found"; points of more than one time series (TSID) is a failed check ("query
  returned multiple values"); else the last point is the value (long, double or
  int, decoded as the Go client does);
- online when ``GET <api>/v2/metric?limit=1`` with ``X-SF-Token`` answers 2xx;
  5 seconds timeout.

Different, each on purpose:

- the timeout bounds the whole exchange (connect, program, last message); the
  Go client bounds only the sending, then waits up to a minute between messages;
- an error message without a channel (a refused token: the server then closes
  the connection) is a failed check naming its code; the Go client drops it and
  waits; a ``NaN`` last point is "no values found" (Go returns NaN);
- only the first host label is rewritten (``api.`` ↔ ``stream.``); Flagger
  replaces the first ``api`` and ``http`` anywhere in the URL;
- a message type or value type the reference does not list is a failed check
  naming it, where the Go client skips it.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import struct
import time
import zlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection, connect

from gitflagger.adapters.metrics.context import ProviderContext
from gitflagger.adapters.metrics.http import HttpClient, required_key
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.errors import FieldProblem, ValidationError
from gitflagger.model.templates import MetricProviderSpec

TOKEN_KEY = "sf_token_key"
TOKEN_HEADER = "X-SF-Token"
LOOKBACK_INTERVALS = 10
CONNECT_PATH = "/v2/signalflow/connect"
VALIDATE_PATH = "/v2/metric"
CHANNEL = "ch-1"
"""The Go client names its first channel ``ch-1``; one program per connection here too."""

DATA_MESSAGE = 5
"""Binary message type of a data batch (the stream messages reference)."""
COMPRESSED, JSON_ENCODED = 1, 2
"""Flags of a binary message: gzip body, and a JSON message in a binary frame."""
HEADER, BATCH, POINT = 20, 12, 17
"""Bytes of the binary header, the data batch header (timestamp, count) and one point."""
LONG, DOUBLE, INT = 1, 2, 3
ENDS = ("END_OF_CHANNEL", "CHANNEL_ABORT")
KNOWN = ("authenticated", "control-message", "metadata", "message", "event", "expired-tsid")

_SILENT = logging.Logger("gitflagger.splunk.websocket", logging.CRITICAL + 1)
"""The WebSocket library logs every frame at DEBUG, the authenticate message (the token) too:
it gets a logger of its own, outside the logging tree, that never emits."""
_SILENT.propagate = False


class SplunkProvider:
    type = "splunk"

    def __init__(self, address: str, token: str, interval_seconds: float, timeout: float) -> None:
        self.address, self.stream_url, self.api_url = _endpoints(address)
        self._token = token
        self.from_delta_ms = int(LOOKBACK_INTERVALS * interval_seconds * 1000)
        self.timeout = timeout
        self._http = HttpClient(self.type, self.api_url, secrets=(token,), timeout=timeout)

    @classmethod
    def from_spec(
        cls, spec: MetricProviderSpec, credentials: Mapping[str, str] | None, ctx: ProviderContext
    ) -> SplunkProvider:
        return cls(
            spec.address,
            required_key(cls.type, credentials, TOKEN_KEY),
            ctx.interval_seconds,
            ctx.timeout_or(),
        )

    def __repr__(self) -> str:
        return f"SplunkProvider(address={self.address!r})"

    def execute_message(self, program: str, now_ms: int) -> dict[str, Any]:
        """The ``execute`` message, field for field as the Go client marshals it."""
        return {
            "type": "execute",
            "program": program,
            "channel": CHANNEL,
            "start": now_ms - self.from_delta_ms,
            "stop": now_ms,
            "resolution": 0,
            "maxDelay": 0,
            "immediate": True,
            "timezone": "",
        }

    def run_query(self, query: str) -> float:
        deadline = time.monotonic() + self.timeout
        execute = self.execute_message(query, int(time.time() * 1000))
        try:
            with connect(
                self.stream_url,
                open_timeout=self.timeout,
                close_timeout=1,
                max_size=2**24,
                compression=None,  # the Go client negotiates no extension either
                user_agent_header="gitflagger",
                logger=_SILENT,
            ) as ws:
                try:
                    ws.send(json.dumps({"type": "authenticate", "token": self._token}))
                    ws.send(json.dumps(execute))
                except ConnectionClosed:
                    pass  # a refused token closes the connection: its error message is read below
                points = self._collect(ws, deadline)
        except InvalidStatus as err:
            raise QueryFailed(self._http.say(self._status_line(err))) from None
        except TimeoutError:
            raise QueryFailed(self._http.say(f"no answer within {self.timeout:g}s (timeout)")) from None
        except ConnectionClosed as err:
            code = err.rcvd.code if err.rcvd else "none"
            reason = self._http.excerpt(err.rcvd.reason if err.rcvd else "", 100)
            raise QueryFailed(
                self._http.say(f"connection closed before the computation ended (close code {code}) {reason}")
            ) from None
        except (OSError, InvalidHandshake, InvalidURI) as err:
            what = self._http.excerpt(str(err) or type(err).__name__, 200)
            raise QueryFailed(self._http.say(f"connection failed: {what}")) from None
        return self._pick(points)

    def _collect(self, ws: ClientConnection, deadline: float) -> list[tuple[int, int, bytes]]:
        """Every (value type, TSID, 8 value bytes) of our channel, until the channel ends."""
        points: list[tuple[int, int, bytes]] = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            frame = ws.recv(timeout=remaining)
            if isinstance(frame, bytes):
                channel, decoded = self._binary(frame)
                self._own(channel)
                if isinstance(decoded, list):
                    points += decoded
                    continue
                message = decoded
            else:
                message = self._json(frame)
            if self._ends(message):
                return points

    def _ends(self, message: Mapping[str, Any]) -> bool:
        """True at the end of our channel; QueryFailed for an error or a message nobody documents."""
        kind = message.get("type")
        if kind == "error":
            code, error_type = message.get("error"), message.get("errorType")
            text = f"SignalFlow error {code}" + (f" ({error_type})" if error_type else "")
            if message.get("message"):
                text += f": {self._http.excerpt(str(message['message']))}"
            if code in (401, 403):
                text += " (check the token in spec.provider.secretRef)"
            raise QueryFailed(self._http.say(text))
        if kind not in KNOWN:
            raise QueryFailed(
                self._http.say(f"unknown SignalFlow message type {self._http.excerpt(str(kind), 40)}")
            )
        if "channel" in message:
            self._own(message["channel"])
        return kind == "control-message" and message.get("event") in ENDS

    def _own(self, channel: object) -> None:
        if channel != CHANNEL:
            raise QueryFailed(
                self._http.say(f"message for channel {self._http.excerpt(str(channel), 40)}, not {CHANNEL}")
            )

    def _json(self, text: str | bytes) -> Mapping[str, Any]:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            raise QueryFailed(
                self._http.say(f"message is not a JSON object: {self._http.excerpt(str(text))}")
            )
        return message

    def _binary(self, frame: bytes) -> tuple[str, list[tuple[int, int, bytes]] | Mapping[str, Any]]:
        """A binary message: its channel, and its data points (or the JSON message it carries)."""
        if len(frame) <= HEADER:
            raise QueryFailed(self._http.say(f"binary message of {len(frame)} bytes is too short"))
        _version, kind, flags = frame[0], frame[1], frame[2]
        channel = frame[4:HEADER].split(b"\0", 1)[0].decode("utf-8", "replace")
        body = frame[HEADER:]
        if flags & COMPRESSED:
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error):
                raise QueryFailed(self._http.say("binary message is not valid gzip")) from None
        if flags & JSON_ENCODED:
            return channel, self._json(body)
        if kind != DATA_MESSAGE:
            raise QueryFailed(self._http.say(f"unsupported binary message type {kind}"))
        if len(body) < BATCH:
            raise QueryFailed(self._http.say("malformed data message"))
        _timestamp, count = struct.unpack(">QI", body[:BATCH])
        if len(body) != BATCH + count * POINT:
            raise QueryFailed(self._http.say(f"malformed data message: {count} points in {len(body)} bytes"))
        points = []
        for i in range(count):
            start = BATCH + i * POINT
            value_type, tsid = struct.unpack(">Bq", body[start : start + 9])
            points.append((value_type, tsid, body[start + 9 : start + POINT]))
        return channel, points

    def _pick(self, points: list[tuple[int, int, bytes]]) -> float:
        if not points:
            raise NoValuesFound(self._http.say("invalid response: no values found"))
        if len({tsid for _, tsid, _ in points}) > 1:
            raise QueryFailed(self._http.say("invalid response: query returned multiple values"))
        value_type, _tsid, raw = points[-1]
        if value_type == LONG:
            value = float(struct.unpack(">q", raw)[0])
        elif value_type == DOUBLE:
            value = struct.unpack(">d", raw)[0]
        elif value_type == INT:
            value = float(
                struct.unpack(">i", raw[:4])[0]
            )  # the first four bytes, as the Go client reads them
        else:
            raise QueryFailed(self._http.say(f"invalid response: unsupported value type {value_type}"))
        if math.isnan(value):
            raise NoValuesFound(self._http.say("last point is NaN: no values found"))
        return value

    def _status_line(self, err: InvalidStatus) -> str:
        resp = err.response
        line = f"HTTP {resp.status_code}"
        if resp.reason_phrase:
            line += f" {resp.reason_phrase}"
        retry_after = resp.headers.get("Retry-After")
        if resp.status_code == 429 and retry_after:
            line += f" (retry after {self._http.excerpt(retry_after, 20)}s)"
        if resp.status_code in (401, 403):
            line += " (check the token in spec.provider.secretRef)"
        body = self._http.excerpt((resp.body or b"").decode("utf-8", "replace"))
        return f"{line}: {body}" if body else line

    def is_online(self) -> bool:
        try:
            self._http.send(
                "GET",
                self.api_url + VALIDATE_PATH,
                params={"limit": "1"},
                headers={TOKEN_HEADER: self._token},
            )
        except QueryFailed:
            return False
        return True

    def close(self) -> None:
        self._http.close()


def _endpoints(address: str) -> tuple[str, str, str]:
    """(the address as written, the SignalFlow connect URL, the API base URL); ValidationError if unusable."""
    problem = ""
    try:
        parts = urlsplit(address.strip())
        _ = parts.port
    except ValueError:
        problem = "must be a URL with a host"
    else:
        if not address.strip():
            problem = "required: the API address of your realm, e.g. https://api.us1.signalfx.com"
        elif parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            problem = "must be an http://, https://, ws:// or wss:// URL with a host"
        elif "@" in parts.netloc:
            problem = "must not carry credentials (the token comes from spec.provider.secretRef)"
    if problem:
        raise ValidationError([FieldProblem("spec.provider.address", problem)], subject="splunk provider")
    secure = parts.scheme in ("https", "wss")
    path = parts.path.rstrip("/")
    host = parts.netloc
    stream_host = "stream." + host[4:] if host.startswith("api.") else host
    api_host = "api." + host[7:] if host.startswith("stream.") else host
    stream = urlunsplit(("wss" if secure else "ws", stream_host, path + CONNECT_PATH, "", ""))
    api = urlunsplit(("https" if secure else "http", api_host, path, "", ""))
    return urlunsplit((parts.scheme, host, path, "", "")), stream, api
