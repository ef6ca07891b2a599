"""The Graphite provider against a real Graphite: Debian's carbon-cache and graphite-web.

Points go in over carbon's plaintext protocol and come back through graphite-web's
render API (https://graphite.readthedocs.io/en/latest/render_api.html), as the
provider asks for them. (Auth, 429 and slow answers, which a local graphite-web does
not produce, are covered by the contract server in test_metrics_contracts.py.)
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.metrics import NoValuesFound, QueryFailed, provider_for
from gitflagger.cli.main import cli
from gitflagger.model.templates import MetricProviderSpec
from tests.testbed.graphite import Graphite


def provider(server: Graphite):  # type: ignore[no-untyped-def]
    return provider_for(MetricProviderSpec(type="graphite", address=server.url))


def test_reads_the_last_non_null_point(graphite_server: Graphite) -> None:
    path = f"mesh.t{secrets.token_hex(4)}.errors"
    now = time.time()
    graphite_server.send(path, 1.0, now - 20)
    graphite_server.send(path, 2.5, now - 10)
    query = f"target=sumSeries(\n    {path})&from=-1min"  # whitespace collapsed, as Flagger does
    assert provider(graphite_server).run_query(query) == 2.5


def test_a_series_without_points_is_no_values_found(graphite_server: Graphite) -> None:
    with pytest.raises(NoValuesFound, match="no values found"):
        provider(graphite_server).run_query(f"target=mesh.absent{secrets.token_hex(4)}.errors&from=-1min")


def test_a_bad_render_call_is_a_failed_check(graphite_server: Graphite) -> None:
    with pytest.raises(QueryFailed, match=r"graphite http://127\.0\.0\.1:\d+: HTTP [45]\d\d"):
        provider(graphite_server).run_query("target=noSuchFunction(a.b)&from=-1min")


def test_is_online(graphite_server: Graphite) -> None:
    assert provider(graphite_server).is_online()
    assert not provider_for(MetricProviderSpec(type="graphite", address="http://127.0.0.1:9")).is_online()


def test_metrics_check_against_graphite(graphite_server: Graphite, tmp_path: Path) -> None:
    name = f"t{secrets.token_hex(4)}"
    graphite_server.send(f"mesh.{name}.podinfo.errors", 4.0, time.time() - 5)
    template = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "errors"},
        "spec": {
            "provider": {"type": "graphite", "address": graphite_server.url},
            "query": "target=mesh.{{ namespace }}.{{ target }}.errors&from=-{{ interval }}",
        },
    }
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps(template))
    result = CliRunner().invoke(
        cli,
        [
            "metrics",
            "check",
            str(path),
            "-n",
            name,
            "--target",
            "podinfo",
            "--interval",
            "120s",
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert (out["value"], out["provider"]) == (4.0, "graphite")
    assert out["query"] == f"target=mesh.{name}.podinfo.errors&from=-120s"
