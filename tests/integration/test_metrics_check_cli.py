"""``gitflagger metrics check`` on template and Secret files, against each provider's server.

SaaS providers answer from their loopback contract servers (``tests/integration/contracts``),
CloudWatch from moto's server. Exit 0 with the value; exit 1 with one line for
"no values found", an auth failure and a timeout; the key never printed.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gitflagger.cli.main import cli
from tests.integration.contracts.base import Contract, ContractServer, open_server
from tests.integration.test_metrics_contracts import CONTRACTS
from tests.testbed.cloudwatch import ACCESS_KEY_ID, REGION, MotoCloudWatch


def write_yaml(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(json.dumps(doc))  # JSON is YAML
    return str(path)


def template_doc(provider: dict[str, Any], query: str) -> dict[str, Any]:
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "check", "namespace": "test"},
        "spec": {"provider": provider, "query": query},
    }


def secret_doc(data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": data}


@pytest.fixture(params=sorted(CONTRACTS))
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ContractServer, list[str], str]]:
    contract: Contract = CONTRACTS[request.param]
    key = "k" + secrets.token_hex(16)
    with open_server(contract, contract.credentials(key), slow_seconds=2.5) as srv:
        spec = contract.spec(srv.url)
        provider = {"type": spec.type, "address": spec.address, "secretRef": {"name": "creds"}}
        args = [
            "metrics",
            "check",
            write_yaml(tmp_path / "t.yaml", template_doc(provider, contract.query)),
            "--secret",
            write_yaml(tmp_path / "s.yaml", secret_doc(srv.credentials)),
            "--namespace",
            "test",
            "--target",
            "podinfo",
            "--interval",
            contract.interval,
            "--timeout",
            "1",
        ]
        yield srv, args, key


def run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args)


def test_prints_provider_query_value_and_latency(served: tuple[ContractServer, list[str], str]) -> None:
    srv, args, key = served
    result = run(args)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    assert lines["provider"] == srv.contract.provider
    assert lines["query"] == " ".join(srv.contract.query.split())
    assert float(lines["value"]) == srv.contract.expected_value
    assert lines["latency"].endswith("s")
    assert srv.violations == []
    out = json.loads(run([*args, "-o", "json"]).output)
    assert out["value"] == srv.contract.expected_value
    assert (out["provider"], out["query"]) == (srv.contract.provider, srv.contract.query)
    assert key not in result.output


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("empty", "no values found"),
        ("401", "HTTP 401"),
        ("slow", "(timeout)"),
        ("429", "retry after 17s"),
    ],
)
def test_failures_exit_1_with_one_line(
    served: tuple[ContractServer, list[str], str], scenario: str, words: str
) -> None:
    if served[0].contract.provider == "splunk":  # a refused token is an error message on its WebSocket
        words = words.replace("HTTP 401", "SignalFlow error 401")
    srv, args, key = served
    srv.scenario = scenario
    result = run(args)
    assert result.exit_code == 1
    error = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and words in error[0], result.output
    assert error[0].startswith(f"error: {srv.contract.provider} http://127.0.0.1:")
    as_json = run([*args, "-o", "json"])
    assert as_json.exit_code == 1
    out = json.loads(as_json.output)
    assert out["value"] is None and words in out["error"]
    assert key not in result.output + as_json.output


def test_cloudwatch_from_files(cloudwatch_server: MotoCloudWatch, tmp_path: Path) -> None:
    name = "Check" + secrets.token_hex(4)
    cloudwatch_server.client().put_metric_data(
        Namespace="gitflagger/check",
        MetricData=[
            {"MetricName": name, "Value": 42.0, "Timestamp": datetime.now(UTC) - timedelta(seconds=90)}
        ],
    )
    query = json.dumps(
        [
            {
                "Id": "q",
                "MetricStat": {
                    "Metric": {"Namespace": "gitflagger/check", "MetricName": name},
                    "Period": 60,
                    "Stat": "Maximum",
                },
            }
        ]
    )
    provider = {
        "type": "cloudwatch",
        "region": REGION,
        "address": cloudwatch_server.url,
        "secretRef": {"name": "creds"},
    }
    key = "s" + secrets.token_hex(16)
    args = [
        "metrics",
        "check",
        write_yaml(tmp_path / "t.yaml", template_doc(provider, query)),
        "--secret",
        write_yaml(
            tmp_path / "s.yaml",
            secret_doc({"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": key}),
        ),
        "-n",
        "test",
        "--target",
        "podinfo",
        "-o",
        "json",
    ]
    result = run(args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["value"] == 42.0
    none = run([*args[:-6], "-n", "test", "--target", "podinfo", "--interval", "1s"])
    assert none.exit_code == 1 and "no values found" in none.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], 'the template names Secret "creds" (spec.provider.secretRef): pass it with --secret'),
        (["--secret", "SECRET", "--canary", "a/b"], "--secret cannot be used with --canary"),
        (["--secret", "SECRET", "--var", "novalue"], "'novalue' is not NAME=VALUE"),
        (["--secret", "SECRET", "--interval", "1x"], 'invalid duration "1x"'),
    ],
)
def test_usage_mistakes_are_one_line(tmp_path: Path, extra: list[str], message: str) -> None:
    tpath = write_yaml(
        tmp_path / "t.yaml", template_doc({"type": "datadog", "secretRef": {"name": "creds"}}, "q")
    )
    spath = write_yaml(
        tmp_path / "s.yaml", secret_doc({"datadog_api_key": "a", "datadog_application_key": "b"})
    )
    args = ["metrics", "check", tpath, "--target", "podinfo", *[spath if a == "SECRET" else a for a in extra]]
    result = run(args)
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unknown_provider_type_names_the_field(tmp_path: Path) -> None:
    tpath = write_yaml(tmp_path / "t.yaml", template_doc({"type": "splunkk"}, "q"))
    result = run(["metrics", "check", tpath, "--target", "podinfo"])
    assert result.exit_code == 1
    assert 'spec.provider.type: unknown provider "splunkk", supported: ' in result.output


def test_help_has_examples() -> None:
    result = run(["metrics", "check", "--help"])
    assert result.exit_code == 0
    assert "gitflagger metrics check test/error-rate --canary test/podinfo" in result.output
