"""The CloudWatch provider against a real CloudWatch API: moto's server, through botocore.

moto checks the SigV4 signature's shape and serves PutMetricData/GetMetricData as
AWS documents them (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta

import pytest

from gitflagger.adapters.metrics import NoValuesFound, QueryFailed, provider_for
from gitflagger.adapters.metrics.cloudwatch import CloudWatchProvider
from gitflagger.errors import ValidationError
from gitflagger.model.templates import MetricProviderSpec
from tests.testbed.cloudwatch import ACCESS_KEY_ID, REGION, MotoCloudWatch
from tests.unit.adapters.loopback import LoopbackServer, Reply


def query(namespace: str, stat: str = "Average") -> str:
    """A Flagger-style CloudWatch template query (field names as in Flagger's docs).

    The metric is named after the namespace's last part: moto drops the namespace
    filter of a query with dimensions, so each test needs its own metric name.
    """
    return json.dumps(
        [
            {
                "Id": "e1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": namespace.rpartition("/")[2],
                        "Dimensions": [{"Name": "Service", "Value": "podinfo"}],
                    },
                    "Period": 60,
                    "Stat": stat,
                },
            }
        ]
    )


def provider(
    server: MotoCloudWatch, secret_key: str = "test-secret", interval: str = "1m"
) -> CloudWatchProvider:
    spec = MetricProviderSpec(type="cloudwatch", address=server.url, region=REGION, secret_ref="aws")
    creds = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": secret_key}
    built = provider_for(spec, creds, interval=interval, timeout=5)
    assert isinstance(built, CloudWatchProvider)
    return built


def put(server: MotoCloudWatch, namespace: str, value: float, when: datetime | None = None) -> None:
    server.client().put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": namespace.rpartition("/")[2],
                "Dimensions": [{"Name": "Service", "Value": "podinfo"}],
                "Timestamp": when or datetime.now(UTC) - timedelta(seconds=2),
                "Value": value,
            }
        ],
    )


def test_reads_the_first_value_of_the_first_result(cloudwatch_server: MotoCloudWatch) -> None:
    ns = "gitflagger/" + secrets.token_hex(4)
    when = datetime.now(UTC) - timedelta(seconds=5)  # (moto counts a point at EndTime out)
    put(cloudwatch_server, ns, 4.0, when)
    put(cloudwatch_server, ns, 2.0, when)  # one period: the Average of both
    assert provider(cloudwatch_server).run_query(query(ns)) == 3.0


def test_field_names_match_case_insensitively_like_go(cloudwatch_server: MotoCloudWatch) -> None:
    ns = "gitflagger/" + secrets.token_hex(4)
    put(cloudwatch_server, ns, 7.0)
    lower = query(ns).replace('"MetricStat"', '"metricStat"').replace('"Id"', '"id"')
    assert provider(cloudwatch_server).run_query(lower) == 7.0


def test_data_older_than_ten_intervals_is_no_values_found(cloudwatch_server: MotoCloudWatch) -> None:
    ns = "gitflagger/" + secrets.token_hex(4)
    put(cloudwatch_server, ns, 9.0, datetime.now(UTC) - timedelta(minutes=30))
    with pytest.raises(NoValuesFound, match="no values found"):
        provider(cloudwatch_server, interval="1m").run_query(query(ns))
    assert provider(cloudwatch_server, interval="5m").run_query(query(ns)) == 9.0


def test_no_data_is_no_values_found(cloudwatch_server: MotoCloudWatch) -> None:
    with pytest.raises(NoValuesFound, match="no values found"):
        provider(cloudwatch_server).run_query(query("gitflagger/empty-" + secrets.token_hex(4)))


def test_a_bad_query_is_a_failed_check_naming_the_field(cloudwatch_server: MotoCloudWatch) -> None:
    with pytest.raises(QueryFailed, match=r"query\[0\]\.Bogus is not a field of MetricDataQuery"):
        provider(cloudwatch_server).run_query('[{"Id": "e1", "Bogus": 1}]')
    with pytest.raises(QueryFailed, match="error unmarshaling query"):
        provider(cloudwatch_server).run_query("not json")


def test_is_online(cloudwatch_server: MotoCloudWatch) -> None:
    assert provider(cloudwatch_server).is_online()


def test_region_is_required_and_unused_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"spec\.provider\.region: required for cloudwatch"):
        provider_for(MetricProviderSpec(type="cloudwatch"))
    unused = r"spec\.provider\.headers: not used by the cloudwatch provider"
    with pytest.raises(ValidationError, match=unused):
        provider_for(MetricProviderSpec(type="cloudwatch", region=REGION, headers={"X": ("y",)}))


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (
            Reply(
                403,
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized"
                "</Message></Error></ErrorResponse>",
                headers={"Content-Type": "text/xml"},
            ),
            "HTTP 403",
        ),
        (Reply(200, "", delay=3.0), "timeout"),
    ],
)
def test_auth_failures_and_timeouts_are_failed_checks_without_the_key(reply: Reply, words: str) -> None:
    key = "s" + secrets.token_hex(16)
    with LoopbackServer() as srv:
        srv.script(reply)
        spec = MetricProviderSpec(type="cloudwatch", address=srv.url, region=REGION, secret_ref="aws")
        creds = {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": key}
        p = provider_for(spec, creds, timeout=1)
        started = time.monotonic()
        with pytest.raises(QueryFailed) as err:
            p.run_query(query("x"))
        assert time.monotonic() - started < 30
        assert words in str(err.value)
        assert str(err.value).startswith("cloudwatch http://127.0.0.1:")
        assert key not in str(err.value) and key not in repr(p)
        assert "Credential=" + ACCESS_KEY_ID in srv.requests[0].headers["authorization"]  # SigV4
        assert key not in srv.requests[0].headers["authorization"]
        assert not p.is_online()
