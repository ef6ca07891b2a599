"""What is particular to the splunk provider, beyond the shared contract table of test_metrics_contracts.py.

Against the same SignalFlow contract server (tests/integration/contracts/splunk.py,
which names the Splunk API pages it follows): the realm's two hosts derived from one
address, points of two time series refused as Flagger refuses them, the binary
encodings the Go client decodes (gzip bodies, int values, JSON in a binary frame),
and what the reference does not list refused by name.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

import pytest

from gitflagger.adapters.metrics import provider_for
from gitflagger.adapters.metrics.provider import NoValuesFound, QueryFailed
from gitflagger.adapters.metrics.splunk import CHANNEL, SplunkProvider
from gitflagger.errors import ValidationError
from gitflagger.model.templates import MetricProviderSpec
from tests.integration.contracts.splunk import (
    CONTRACT,
    QUERY,
    TSID,
    SignalFlowServer,
    data_message,
    double,
    long,
)

TIMEOUT = 2.0


@pytest.fixture
def server() -> Iterator[SignalFlowServer]:
    with SignalFlowServer(CONTRACT, CONTRACT.credentials("k-0123456789abcdef"), slow_seconds=3) as srv:
        yield srv


def build(server: SignalFlowServer) -> SplunkProvider:
    provider = provider_for(CONTRACT.spec(server.url), server.credentials, timeout=TIMEOUT, interval="1m")
    assert isinstance(provider, SplunkProvider)
    return provider


@pytest.mark.parametrize(
    ("address", "stream", "api"),
    [
        (
            "https://api.us1.signalfx.com",
            "wss://stream.us1.signalfx.com/v2/signalflow/connect",
            "https://api.us1.signalfx.com",
        ),
        (
            "wss://stream.eu0.signalfx.com/",
            "wss://stream.eu0.signalfx.com/v2/signalflow/connect",
            "https://api.eu0.signalfx.com",
        ),
        (
            "http://127.0.0.1:8080/prefix/",
            "ws://127.0.0.1:8080/prefix/v2/signalflow/connect",
            "http://127.0.0.1:8080/prefix",
        ),
        # only the first host label is rewritten (Flagger replaces the first "api" anywhere)
        (
            "https://myapi.example.com",
            "wss://myapi.example.com/v2/signalflow/connect",
            "https://myapi.example.com",
        ),
    ],
)
def test_the_stream_and_api_hosts_of_a_realm_come_from_one_address(
    address: str, stream: str, api: str
) -> None:
    provider = SplunkProvider(address, "token", 60, 5)
    assert (provider.stream_url, provider.api_url) == (stream, api)


@pytest.mark.parametrize(
    ("address", "credentials", "field", "words"),
    [
        ("", {"sf_token_key": "t"}, "spec.provider.address", "required: the API address of your realm"),
        ("ftp://api.us1.signalfx.com", {"sf_token_key": "t"}, "spec.provider.address", "ws:// or wss://"),
        (
            "https://user:pw@api.us1.signalfx.com",
            {"sf_token_key": "t"},
            "spec.provider.address",
            "must not carry credentials",
        ),
        ("https://api.us1.signalfx.com", {"token": "t"}, "spec.provider.secretRef", '"sf_token_key"'),
    ],
)
def test_an_unusable_address_or_secret_is_refused_naming_the_field(
    address: str, credentials: dict[str, str], field: str, words: str
) -> None:
    spec = MetricProviderSpec(type="splunk", address=address, secret_ref="creds")
    with pytest.raises(ValidationError) as err:
        provider_for(spec, credentials)
    assert field in str(err.value) and words in str(err.value)
    assert "pw" not in str(err.value)


def test_points_of_two_time_series_are_refused_as_flagger_does(server: SignalFlowServer) -> None:
    server.scenario = "multiple"
    with pytest.raises(QueryFailed, match="invalid response: query returned multiple values"):
        build(server).run_query(QUERY)
    assert server.violations == []


@pytest.mark.parametrize(
    ("frames", "value"),
    [
        ([data_message(CHANNEL, 1, double(TSID, 7.5), gzipped=True)], 7.5),
        ([data_message(CHANNEL, 1, long(TSID, -42))], -42.0),
        # an int value: the first four of the eight value bytes, as the Go client reads them
        ([data_message(CHANNEL, 1, (3, TSID, struct.pack(">i", 12) + b"\0\0\0\0"))], 12.0),
        # a data batch without points adds nothing; the last point is the value
        (
            [
                data_message(CHANNEL, 1, long(TSID, 1)),
                data_message(CHANNEL, 2),
                data_message(CHANNEL, 3, long(TSID, 3)),
            ],
            3.0,
        ),
        # events, expired time series and keep-alives are read past
        (
            [
                json.dumps(
                    {"type": "event", "channel": CHANNEL, "tsId": "x", "timestampMs": 1, "properties": {}}
                ),
                json.dumps({"type": "expired-tsid", "channel": CHANNEL, "tsId": "x"}),
                json.dumps({"type": "control-message", "event": "KEEP_ALIVE", "timestampMs": 1}),
                data_message(CHANNEL, 1, double(TSID, 0.5)),
            ],
            0.5,
        ),
    ],
)
def test_the_binary_encodings_the_go_client_decodes(
    server: SignalFlowServer, frames: list[str | bytes], value: float
) -> None:
    server.scenario, server.frames = "frames", frames
    assert build(server).run_query(QUERY) == value
    assert server.violations == []


def test_a_channel_that_ends_without_points_is_no_values_found(server: SignalFlowServer) -> None:
    server.scenario, server.frames = "frames", [data_message(CHANNEL, 1)]
    with pytest.raises(NoValuesFound, match="invalid response: no values found"):
        build(server).run_query(QUERY)


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (json.dumps({"type": "surprise", "channel": CHANNEL}), "unknown SignalFlow message type surprise"),
        (data_message("ch-9", 1, long(TSID, 1)), "message for channel ch-9, not ch-1"),
        (data_message(CHANNEL, 1, (9, TSID, bytes(8))), "unsupported value type 9"),
        (
            struct.pack(">BBBB16s", 1, 7, 0, 0, CHANNEL.encode()) + bytes(12),
            "unsupported binary message type 7",
        ),
        (data_message(CHANNEL, 1, long(TSID, 1))[:-3], "malformed data message: 1 points in 26 bytes"),
        (struct.pack(">BBBB16s", 1, 5, 1, 0, CHANNEL.encode()) + b"not gzip", "not valid gzip"),
        ("[1, 2]", "message is not a JSON object"),
    ],
)
def test_what_the_reference_does_not_list_is_a_failed_check_naming_it(
    server: SignalFlowServer, frame: str | bytes, words: str
) -> None:
    server.scenario, server.frames = "frames", [frame]
    with pytest.raises(QueryFailed) as err:
        build(server).run_query(QUERY)
    assert words in str(err.value)
    assert str(err.value).startswith("splunk http://127.0.0.1:")


def test_a_server_that_is_not_there_is_one_line(server: SignalFlowServer) -> None:
    spec = MetricProviderSpec(type="splunk", address="http://127.0.0.1:9", secret_ref="creds")
    provider = provider_for(spec, server.credentials, timeout=TIMEOUT)
    with pytest.raises(QueryFailed, match=r"^splunk http://127.0.0.1:9: connection failed: .+$"):
        provider.run_query(QUERY)
    assert not provider.is_online()
