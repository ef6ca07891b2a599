"""Keptn ``analysis/...`` queries on the testbed's real API server, the test playing Keptn's controller.

The testbed installs a minimal structural ``Analysis`` CRD (``tests/testbed/crds/keptn-analyses.yaml``,
from Keptn's published ``metrics.keptn.sh/v1beta1`` schema). The provider creates an Analysis
as Flagger's ``keptn.go`` does; :class:`FakeKeptn` answers for its definition: ``good`` passes,
``bad`` fails, ``silent`` is never answered (a timeout, a failed check).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes import client as k8s_client

from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.metrics import QueryFailed, provider_for
from gitflagger.adapters.metrics.context import cluster_api
from gitflagger.cli.main import cli
from gitflagger.model.templates import MetricProviderSpec

pytestmark = pytest.mark.testbed
GROUP, VERSION, PLURAL = "metrics.keptn.sh", "v1beta1", "analyses"
VERDICTS = {"good": True, "bad": False}


class FakeKeptn:
    """Keptn's Analysis controller, as far as the provider sees it: it writes status.state and status.pass."""

    def __init__(self, api: k8s_client.ApiClient, namespace: str) -> None:
        self._objects = k8s_client.CustomObjectsApi(api)
        self._namespace = namespace
        self.seen: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> FakeKeptn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            listed = self._objects.list_namespaced_custom_object(GROUP, VERSION, self._namespace, PLURAL)
            for item in listed["items"]:
                name = item["metadata"]["name"]
                if name in self.seen:
                    continue
                self.seen[name] = item
                verdict = VERDICTS.get(item["spec"]["analysisDefinition"]["name"])
                if verdict is not None:
                    status = {"status": {"state": "Completed", "pass": verdict, "raw": "{}"}}
                    self._objects.patch_namespaced_custom_object_status(
                        GROUP, VERSION, self._namespace, PLURAL, name, status
                    )

    def remaining(self) -> list[str]:
        listed = self._objects.list_namespaced_custom_object(GROUP, VERSION, self._namespace, PLURAL)
        return [item["metadata"]["name"] for item in listed["items"]]


@pytest.fixture
def keptn(kube_api: k8s_client.ApiClient, namespace: str) -> Iterator[FakeKeptn]:
    with FakeKeptn(kube_api, namespace) as fake:
        yield fake


def test_analysis_pass_fail_and_timeout(cluster: Any, keptn: FakeKeptn, namespace: str) -> None:
    kube = KubeCluster.connect(str(cluster.kubeconfig))
    try:
        provider = provider_for(MetricProviderSpec(type="keptn"), timeout=4, kube_api=cluster_api(kube))
        # lower-cased and trimmed, as Flagger does; the arguments become spec.args
        assert provider.run_query(f" Analysis/{namespace}/Good/5m/Service=PodInfo;stage=canary\n") == 1.0
        (name, created), = keptn.seen.items()
        assert re.fullmatch(r"good-[0-9a-f]{6}", name)
        assert created["apiVersion"] == f"{GROUP}/{VERSION}" and created["kind"] == "Analysis"
        assert created["metadata"]["namespace"] == namespace
        assert created["spec"] == {
            "analysisDefinition": {"name": "good"},
            "timeframe": {"recent": "5m"},
            "args": {"service": "podinfo", "stage": "canary"},
        }
        assert provider.run_query(f"analyses/{namespace}/bad") == 0.0
        bad = next(obj for key, obj in keptn.seen.items() if key.startswith("bad-"))
        expected = {"analysisDefinition": {"name": "bad"}, "timeframe": {"recent": "1m"}, "args": {}}
        assert bad["spec"] == expected
        started = time.monotonic()
        with pytest.raises(QueryFailed, match=f"timeout while waiting for Keptn Analysis {namespace}/silent"):
            provider.run_query(f"analysis/{namespace}/silent/1m")
        assert 4 <= time.monotonic() - started < 15
        assert any(key.startswith("silent-") for key in keptn.seen)
        # every Analysis is deleted afterwards, passed, failed or unanswered
        assert keptn.remaining() == []
        with pytest.raises(QueryFailed, match="'stage' is not <key>=<value>"):
            provider.run_query(f"analysis/{namespace}/good/1m/stage")
        with pytest.raises(QueryFailed, match="could not create Keptn Analysis no-such-ns/good"):
            provider.run_query("analysis/no-such-ns/good/1m")
        offline = provider_for(MetricProviderSpec(type="keptn"))
        with pytest.raises(QueryFailed, match="no cluster to create Analysis objects in"):
            offline.run_query(f"analysis/{namespace}/good")
    finally:
        kube.close()


def test_metrics_check_runs_an_analysis(
    cluster: Any, keptn: FakeKeptn, namespace: str, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: keptn-analysis}\n"
        "spec:\n  provider: {type: keptn}\n"
        "  query: analysis/{{ namespace }}/good/{{ interval }}/workload={{ target }}\n"
    )
    args = ["metrics", "check", str(template), "--namespace", namespace, "--target", "podinfo"]
    result = CliRunner().invoke(
        cli, [*args, "--interval", "2m", "--kubeconfig", str(cluster.kubeconfig), "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["value"] == 1.0 and out["provider"] == "keptn"
    assert out["query"] == f"analysis/{namespace}/good/2m/workload=podinfo"
    (created,) = keptn.seen.values()
    assert created["spec"]["args"] == {"workload": "podinfo"}
    assert created["spec"]["timeframe"] == {"recent": "2m"}
    silent = template.read_text().replace("/good/", "/silent/")
    template.write_text(silent)
    timed_out = CliRunner().invoke(
        cli, [*args, "--timeout", "2", "--kubeconfig", str(cluster.kubeconfig)]
    )
    assert timed_out.exit_code == 1, timed_out.output
    assert f"timeout while waiting for Keptn Analysis {namespace}/silent" in timed_out.output
