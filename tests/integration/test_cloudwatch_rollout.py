"""A rollout analysed entirely by CloudWatch (moto's server), fed by the mesh simulator.

The Canaries' only metric is a MetricTemplate of type ``cloudwatch``: the mesh
simulator's traffic for the test namespace is sent to moto as an ``ErrorRate``
metric (``PutMetricData``, one point per workload before each pass), and the
controller reads it back with ``GetMetricData`` through botocore, with the AWS
keys from the template's ``secretRef``. 6.0.1 promotes; 6.0.2, which fails 30%
of requests, rolls back. Prometheus only tells the harness when fresh traffic has
flowed; it takes no part in the analysis.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import pytest

from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.telemetry import configure_logging
from tests.integration.analysis_support import (
    Passes,
    app,
    canary_events,
    commit_messages,
    create_all,
    set_image,
    status,
)
from tests.integration.controller_support import kube  # noqa: F401 (fixture)
from tests.integration.test_analysis_e2e import promoted, rolled_back
from tests.testbed.cloudwatch import ACCESS_KEY_ID, REGION, CloudWatchFeed, MotoCloudWatch
from tests.testbed.gitserver import RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus

pytestmark = pytest.mark.testbed

QUERY = [
    {
        "Id": "errors",
        "MetricStat": {
            "Metric": {
                "Namespace": CloudWatchFeed.NAMESPACE,
                "MetricName": CloudWatchFeed.METRIC,
                "Dimensions": [
                    {"Name": "Namespace", "Value": "{{ namespace }}"},
                    {"Name": "Workload", "Value": "{{ target }}"},
                ],
            },
            "Period": 30,
            "Stat": "Average",
        },
    }
]


@pytest.fixture(autouse=True)
def _logs_back_to_stderr() -> Iterator[None]:
    yield
    configure_logging()


def test_cloudwatch_alone_promotes_a_good_release_and_rolls_back_a_bad_one(
    kube: KubeCluster,
    namespace: str,
    meshsim: MeshSim,
    prometheus: Prometheus,
    cloudwatch_server: MotoCloudWatch,
    git_repo: RepoUrls,
) -> None:
    ns, repo = namespace, git_repo.path
    secret_key = "s" + secrets.token_hex(16)
    template = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": {"name": "cw-error-rate", "namespace": ns},
        "spec": {
            "provider": {
                "type": "cloudwatch",
                "region": REGION,
                "address": cloudwatch_server.url,
                "secretRef": {"name": "aws"},
            },
            "query": json.dumps(QUERY),
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "aws", "namespace": ns},
        "stringData": {"aws_access_key_id": ACCESS_KEY_ID, "aws_secret_access_key": secret_key},
    }
    metric = {
        "name": "error-rate",
        "templateRef": {"name": "cw-error-rate"},
        "thresholdRange": {"max": 1},
        "interval": "30s",
    }
    feed = CloudWatchFeed(cloudwatch_server, ns)
    meshsim.listeners.append(feed)
    try:
        create_all(kube, [secret, template])
        for name in ("good", "bad"):
            create_all(kube, app(ns, name, metrics=[metric]))
        passes = Passes.build(kube, ns, repo, prometheus, ["good", "bad"])
        passes.until({"good": "Initialized", "bad": "Initialized"})
        set_image(kube, ns, "good", "6.0.1")
        set_image(kube, ns, "bad", "6.0.2")
        phases = passes.until_settled(before=lambda _: feed.flush())
    finally:
        meshsim.listeners.remove(feed)
    assert phases == {"good": "Succeeded", "bad": "Failed"}, passes.subjects()
    assert feed.points_sent > 0
    promoted(kube, ns, "good")
    bad_events = rolled_back(kube, repo, ns, "bad")
    assert any(
        re.fullmatch(r"Halt bad\.\S+ advancement error-rate (2[5-9]|3[0-5])\.\d\d > 1", m) for m in bad_events
    ), bad_events
    good_lines = [
        line
        for m in commit_messages(repo, ns, "good")
        for line in m.splitlines()
        if line.startswith("- error-rate: ")
    ]
    assert good_lines and all(
        re.fullmatch(r"- error-rate: 0(\.0*)? \(max 1\) pass", x) for x in good_lines
    ), good_lines
    # the AWS secret key reached neither the Events nor the commits nor the status
    everything = json.dumps([canary_events(kube, ns, n) for n in ("good", "bad")])
    everything += "".join(commit_messages(repo, ns, "good") + commit_messages(repo, ns, "bad"))
    everything += json.dumps([status(kube, ns, n) for n in ("good", "bad")]) + passes.log.getvalue()
    assert secret_key not in everything
