"""Issue 6's "Done means", on the testbed: analysis driven by real Prometheus data, the load tester,
every failure mode of the evidence, and the controller's own /metrics.

Everything is real: the API server and kwok roll the Deployments, the mesh
simulator turns the VirtualService weights the controller applies into Istio
series, Prometheus scrapes them and answers the controller's queries, and the
config repo is the git server's. The controller's pass function
(``Controller.run_pass``, what ``gitflagger run --once`` runs) is called as
soon as the world is ready for the next step instead of after a real interval;
before a pass that judges metrics, Prometheus has scraped fresh canary traffic.
One test runs ``gitflagger run --metrics-addr`` as a process on its real 10s
pace, to scrape /metrics the way Prometheus would.

Releases: 6.0.1 is healthy, 6.0.2 fails 30% of requests (tests/testbed/meshsim.py).
In the failure-mode tests every release is the healthy 6.0.1: what is missing is
the evidence, and missing evidence must never promote.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from gitflagger.engine.serving import Endpoint
from gitflagger.engine.telemetry import configure_logging
from gitflagger.model.canary import V1BETA1
from tests.integration.analysis_support import (
    BUILTINS,
    Passes,
    app,
    canary_events,
    commit_messages,
    create_all,
    custom,
    hook,
    metric_template,
    primary_image,
    sample,
    scrape,
    served,
    set_image,
    status,
)
from tests.integration.controller_support import ControllerProcess, kube, wait_for  # noqa: F401 (fixture)
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus, free_port
from tests.unit.adapters.loopback import LoopbackServer, Reply, closed_port_url

pytestmark = pytest.mark.testbed

SELECTOR = (
    'reporter="{{ variables.reporter }}",destination_workload_namespace="{{ namespace }}",'
    'destination_workload=~"{{ target }}"'
)
ERROR_RATE = (
    f'100 - sum(rate(istio_requests_total{{{SELECTOR},response_code!~"5.*"}}[{{{{ interval }}}}]))\n'
    f"  / sum(rate(istio_requests_total{{{SELECTOR}}}[{{{{ interval }}}}])) * 100"
)
"""A custom metric as people write it: the canary's percentage of 5xx answers."""


def rolled_back(kube: KubeCluster, repo: Path, ns: str, name: str) -> list[str]:
    """Assert ``name`` rolled back and was never promoted; return its Event messages."""
    story = canary_events(kube, ns, name)
    messages = [m for _, m in story]
    phases = [h.trailers.phase for h in read_history(repo, f"{ns}/{name}")]
    assert status(kube, ns, name)["phase"] == "Failed", messages
    assert not {"Promoting", "Finalising", "Succeeded"} & set(phases), phases
    assert f"Rolling back {name}.{ns} failed checks threshold reached 2" in messages, messages
    assert f"Canary failed! Scaling down {name}.{ns}" in messages, messages
    assert primary_image(kube, ns, name).endswith(":6.0.0"), "the primary kept the last promoted release"
    return messages


def promoted(kube: KubeCluster, ns: str, name: str, tag: str = "6.0.1") -> None:
    messages = [m for _, m in canary_events(kube, ns, name)]
    assert status(kube, ns, name)["phase"] == "Succeeded", messages
    assert f"Promotion completed! Scaling down {name}.{ns}" in messages, messages
    assert primary_image(kube, ns, name).endswith(f":{tag}")


def metric_lines(messages: list[str], metric: str) -> list[str]:
    """The ``- metric: ...`` lines of the commit bodies' ``Metrics:`` sections."""
    out = []
    for message in messages:
        for paragraph in message.split("\n\n"):
            if paragraph.startswith("Metrics:\n"):
                out += [line for line in paragraph.splitlines() if line.startswith(f"- {metric}: ")]
    return out


@pytest.fixture(autouse=True)
def _logs_back_to_stderr() -> Iterator[None]:
    """``Passes`` captures the controller's JSON log; give the rest of the session stderr back."""
    yield
    configure_logging()


# ---- 1 + 4: real Prometheus data promotes 6.0.1, rolls back 6.0.2; /metrics during the rollout ---


def test_real_prometheus_data_promotes_a_good_release_and_rolls_back_a_bad_one_with_a_metric_template(
    kube: KubeCluster,
    namespace: str,
    meshsim: MeshSim,
    prometheus: Prometheus,
    git_repo: RepoUrls,
) -> None:
    ns, repo = namespace, git_repo.path
    metrics = [
        # The built-ins keep a loose floor here so that the custom metric is the one that decides.
        {**BUILTINS[0], "thresholdRange": {"min": 50}},
        BUILTINS[1],
        custom("error-rate", "error-rate", max_value=1, reporter="destination"),
    ]
    with LoopbackServer() as load_tester:
        create_all(kube, [metric_template(ns, "error-rate", prometheus.url, ERROR_RATE)])
        for name in ("good", "bad"):
            create_all(kube, app(ns, name, metrics=metrics, webhooks=[hook(load_tester.url + "/")]))
        passes = Passes.build(kube, ns, repo, prometheus, ["good", "bad"])
        endpoint = Endpoint(
            "127.0.0.1:0", passes.controller.ctx.telemetry.registry, ready=passes.controller.synced.is_set
        )
        url = f"http://127.0.0.1:{endpoint.port}/metrics"
        try:
            passes.until({"good": "Initialized", "bad": "Initialized"})
            set_image(kube, ns, "good", "6.0.1")
            set_image(kube, ns, "bad", "6.0.2")
            seen_weights: dict[str, set[int]] = {"good": set(), "bad": set()}

            def mesh_weight(name: str) -> int | None:
                for route in meshsim.routes():
                    weights = {d.workload: d.weight for d in route.destinations if route.namespace == ns}
                    if name in weights and f"{name}-primary" in weights:
                        return weights[name]
                return None

            def check_metrics(_: int) -> None:
                """/metrics agrees with every Canary's status after each pass (run before the next)."""
                samples = scrape(url)
                for name in ("good", "bad"):
                    st = status(kube, ns, name)
                    w = int(st.get("canaryWeight", 0))
                    seen_weights[name].add(w)
                    assert sample(samples, "flagger_canary_weight", workload=name, namespace=ns) == w
                    assert (
                        sample(samples, "flagger_canary_weight", workload=f"{name}-primary", namespace=ns)
                        == 100 - w
                    )
                    if st.get("phase") == "Progressing" and w > 0:
                        # the mesh simulator splits the traffic by the weights the controller applied
                        wait_for(
                            f"the mesh to route {w}% to {name}", lambda n=name, w=w: mesh_weight(n) == w, 30
                        )
                    want = {"Progressing": 0, "Failed": 2}.get(str(st.get("phase")), 1)
                    assert sample(samples, "flagger_canary_status", name=name, namespace=ns) == want, st

            phases = passes.until_settled(before=check_metrics)
            check_metrics(-1)
            samples = scrape(url)
        finally:
            endpoint.close()

    assert phases == {"good": "Succeeded", "bad": "Failed"}, passes.subjects()
    promoted(kube, ns, "good")
    bad_events = rolled_back(kube, repo, ns, "bad")
    assert load_tester.requests, "the rollout webhook was called"

    # The custom metric's value is in the step commits' Metrics: section, beside the built-ins.
    good_msgs, bad_msgs = commit_messages(repo, ns, "good"), commit_messages(repo, ns, "bad")
    good_lines = metric_lines(good_msgs, "error-rate")
    assert good_lines and all(
        re.fullmatch(r"- error-rate: [0-9.e-]+ \(max 1\) pass", x) for x in good_lines
    ), "\n".join(good_msgs)
    assert metric_lines(good_msgs, "request-success-rate") and metric_lines(good_msgs, "request-duration")
    bad_lines = metric_lines(bad_msgs, "error-rate")
    assert bad_lines, bad_msgs
    values = [
        float(m.group(1))
        for x in bad_lines
        if (m := re.fullmatch(r"- error-rate: ([0-9.]+) \(max 1\) fail", x))
    ]
    assert values and all(25 < v < 35 for v in values), bad_lines  # 6.0.2 fails 30% of requests
    # ... and in the Events: each halt names the value the commit recorded.
    halts = [m for m in bad_events if m.startswith(f"Halt bad.{ns} advancement error-rate ")]
    assert [h.removeprefix(f"Halt bad.{ns} advancement error-rate ") for h in halts] == [
        f"{v:.2f} > 1" for v in values
    ], (halts, bad_lines)
    assert len(halts) == 2
    assert not any("success rate" in m for m in bad_events), "the built-in floor passed; the template decided"

    # ---- 4: the controller's /metrics during and after the rollout ----
    assert {25, 50} <= seen_weights["good"], seen_weights  # every step's weight was exported
    assert 25 in seen_weights["bad"]
    assert sample(samples, "flagger_info", version=sample_version(samples), mesh_provider="istio") == 1
    assert sample(samples, "flagger_canary_total", namespace=ns) == 2
    assert (
        sample(
            samples, "flagger_canary_successes_total", name="good", namespace=ns,
            deployment_strategy="canary", analysis_status="completed",
        )
        == 1
    )
    assert (
        sample(
            samples, "flagger_canary_failures_total", name="bad", namespace=ns,
            deployment_strategy="canary", analysis_status="completed",
        )
        == 1
    )
    assert sample(samples, "flagger_canary_duration_seconds_count", name="good", namespace=ns) >= len(
        good_msgs
    )
    assert sample(
        samples, "flagger_canary_metric_analysis", name="bad", namespace=ns, metric="error-rate"
    ) == pytest.approx(values[-1], abs=1e-6)
    assert sample(
        samples, "flagger_canary_metric_analysis", name="good", namespace=ns, metric="request-success-rate"
    ) == pytest.approx(100.0)
    commits = len(good_msgs) + len(bad_msgs)
    assert sample(samples, "gitflagger_commits_total", namespace=ns) == commits
    assert sample(samples, "gitflagger_apply_seconds_count") >= commits
    assert sample(samples, "gitflagger_apply_seconds_sum") > 0
    assert sample(samples, "gitflagger_push_retries_total") == 0


def test_gitflagger_run_serves_flagger_and_gitflagger_metrics_during_a_rollout(
    cluster: Cluster,
    kube: KubeCluster,
    namespace: str,
    meshsim: MeshSim,
    prometheus: Prometheus,
    git_repo: RepoUrls,
    tmp_path: Path,
) -> None:
    """``gitflagger run --metrics-addr`` as a process, on its own 10s pace, scraped at each stage."""
    ns, repo = namespace, git_repo.path
    url = f"http://127.0.0.1:{free_port()}/metrics"
    with LoopbackServer() as load_tester:
        objects = app(
            ns,
            "podinfo",
            metrics=BUILTINS,
            step_weight=50,
            max_weight=50,
            webhooks=[hook(load_tester.url + "/")],
        )
        create_all(kube, objects)
        controller = ControllerProcess(
            cluster.kubeconfig,
            repo,
            prometheus.url,
            ns,
            tmp_path / "controller.log",
            "--metrics-addr",
            url.removeprefix("http://").removesuffix("/metrics"),
        ).start()
        try:

            def exported(
                phase: str, weight: int
            ) -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
                """A scrape taken while the Canary is at (phase, weight) and /metrics already says so."""
                st = status(kube, ns, "podinfo")
                if st.get("phase") != phase or int(st.get("canaryWeight", 0)) != weight:
                    return None
                try:
                    samples = scrape(url)
                except requests.RequestException:
                    return None
                key = ("flagger_canary_weight", frozenset({"workload": "podinfo", "namespace": ns}.items()))
                return samples if samples.get(key) == weight else None

            wait_for("Initialized", lambda: status(kube, ns, "podinfo").get("phase") == "Initialized", 120)
            set_image(kube, ns, "podinfo", "6.0.1")
            during = wait_for("/metrics at weight 50", lambda: exported("Progressing", 50), 120)
            after = wait_for("/metrics after the promotion", lambda: exported("Succeeded", 0), 120)
            assert controller.proc is not None and controller.proc.poll() is None, "the controller died"
        finally:
            controller.stop()

    assert sample(during, "flagger_canary_weight", workload="podinfo-primary", namespace=ns) == 50
    assert sample(during, "flagger_canary_status", name="podinfo", namespace=ns) == 0
    assert sample(during, "flagger_canary_total", namespace=ns) == 1
    assert sample(during, "gitflagger_commits_total", namespace=ns) >= 4  # init x2, new revision, advance

    assert sample(after, "flagger_canary_weight", workload="podinfo-primary", namespace=ns) == 100
    assert sample(after, "flagger_canary_status", name="podinfo", namespace=ns) == 1
    assert (
        sample(
            after,
            "flagger_canary_successes_total",
            name="podinfo",
            namespace=ns,
            deployment_strategy="canary",
            analysis_status="completed",
        )
        == 1
    )
    assert sample(
        after, "flagger_canary_metric_analysis", name="podinfo", namespace=ns, metric="request-success-rate"
    ) == pytest.approx(100.0)
    assert (
        0
        < sample(
            after, "flagger_canary_metric_analysis", name="podinfo", namespace=ns, metric="request-duration"
        )
        <= 500
    )
    commits = len(read_history(repo, f"{ns}/podinfo"))
    assert sample(after, "gitflagger_commits_total", namespace=ns) == commits
    assert sample(after, "flagger_canary_duration_seconds_count", name="podinfo", namespace=ns) >= commits
    assert sample(after, "gitflagger_apply_seconds_count") >= commits
    assert sample(after, "flagger_info", version=sample_version(after), mesh_provider="istio") == 1


def sample_version(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> str:
    for name, labels in samples:
        if name == "flagger_info":
            return dict(labels)["version"]
    raise AssertionError("flagger_info is not exported")


# ---- 2: the seed's load-test webhook against `gitflagger loadtester` -----------------------------


@pytest.fixture
def loadtester(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``gitflagger loadtester`` as a real process on a free loopback port; yields (url, log)."""
    port = free_port()
    log = tmp_path / "loadtester.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gitflagger"),
                "loadtester",
                "--listen",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the load tester's /healthz", lambda: _healthy(url, proc), 30, 0.2)
        yield url, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _healthy(url: str, proc: subprocess.Popen[bytes]) -> bool:
    assert proc.poll() is None, "gitflagger loadtester exited"
    try:
        return requests.get(url + "/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_the_seeds_load_test_webhook_runs_hey_through_gitflagger_loadtester(
    kube: KubeCluster,
    namespace: str,
    meshsim: MeshSim,
    prometheus: Prometheus,
    git_repo: RepoUrls,
    loadtester: tuple[str, Path],
) -> None:
    ns, repo = namespace, git_repo.path
    url, log = loadtester
    with LoopbackServer() as podinfo_canary:  # stands in for http://podinfo-canary.test:9898/
        cmd = f"hey -z 1m -q 10 -c 2 {podinfo_canary.url}/"
        objects = app(
            ns,
            "podinfo",
            metrics=BUILTINS,
            step_weight=50,
            max_weight=50,
            webhooks=[hook(url + "/", timeout="5s", cmd=cmd)],
        )
        create_all(kube, objects)
        passes = Passes.build(kube, ns, repo, prometheus, ["podinfo"])
        passes.until({"podinfo": "Initialized"})
        set_image(kube, ns, "podinfo", "6.0.1")
        assert passes.until_settled() == {"podinfo": "Succeeded"}, passes.subjects()
        wait_for("hey's requests at the target", lambda: len(podinfo_canary.requests) >= 5, 30)
        agents = {r.headers.get("user-agent", "") for r in podinfo_canary.requests}
    promoted(kube, ns, "podinfo")
    assert any(a.startswith("hey/") for a in agents), agents
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    started = [x for x in lines if x.get("msg") == "command starting"]
    assert started, log.read_text()
    assert all(x["canary"] == f"podinfo.{ns}" and x["command"] == cmd for x in started), started
    gates = [x for m in commit_messages(repo, ns, "podinfo") for x in m.splitlines() if "load-test" in x]
    assert any(x.startswith("- load-test (rollout): pass: POST ") for x in gates), gates


# ---- 3: failure modes: never promote on missing evidence, keep reconciling the others ---------------


def test_no_metric_evidence_never_promotes_and_the_controller_keeps_going(
    kube: KubeCluster,
    namespace: str,
    meshsim: MeshSim,
    prometheus: Prometheus,
    git_repo: RepoUrls,
) -> None:
    """Prometheus stopped before the promotion decision, an empty result, NaN, a Prometheus too slow."""
    ns, repo = namespace, git_repo.path
    teapots = f'sum(rate(istio_requests_total{{{SELECTOR},response_code="418"}}[{{{{ interval }}}}]))'
    nan = f"sum(rate(istio_requests_total{{{SELECTOR}}}[{{{{ interval }}}}])) * 0 / 0"
    passing = {
        "status": "success",
        "data": {"resultType": "vector", "result": [{"metric": {}, "value": [0, "0"]}]},
    }
    with Prometheus(targets=[meshsim.target]).start() as own, LoopbackServer() as slow:
        slow.script(Reply(200, passing, delay=8))  # a passing answer, but after the 5s query timeout
        create_all(
            kube,
            [
                metric_template(ns, "teapots", prometheus.url, teapots),
                metric_template(ns, "nan", prometheus.url, nan),
                metric_template(ns, "slow", slow.url, "sum(up)"),
            ],
        )
        apps = {
            "good": app(ns, "good", metrics=BUILTINS),
            "promdown": app(ns, "promdown", metrics=BUILTINS, metrics_server=own.url),
            "empty": app(
                ns, "empty", metrics=[*BUILTINS, custom("teapots", "teapots", reporter="destination")]
            ),
            "nan": app(ns, "nan", metrics=[*BUILTINS, custom("nan", "nan", reporter="destination")]),
            "slow": app(ns, "slow", metrics=[*BUILTINS, custom("slow", "slow")]),
        }
        for objects in apps.values():
            create_all(kube, objects)
        passes = Passes.build(kube, ns, repo, prometheus, list(apps))
        passes.until(dict.fromkeys(apps, "Initialized"))
        for name in apps:
            set_image(kube, ns, name, "6.0.1")
        stopped: list[bool] = []

        def stop_prometheus_before_the_promotion_decision(_: int) -> None:
            st = status(kube, ns, "promdown")
            if not stopped and st.get("phase") == "Progressing" and int(st.get("canaryWeight", 0)) == 50:
                own.stop()
                stopped.append(True)

        def before(i: int) -> None:
            st = status(kube, ns, "promdown")
            if st.get("phase") == "Progressing" and int(st.get("canaryWeight", 0)) > 0 and not stopped:
                # the canary's own Prometheus has scraped the fresh traffic too
                want = served(prometheus, ns, "promdown") - 20
                wait_for("promdown's Prometheus to catch up", lambda: served(own, ns, "promdown") >= want, 30)
            stop_prometheus_before_the_promotion_decision(i)

        phases = passes.until_settled(before=before)
        # NaN really is what Prometheus answers for the nan template's query, not an empty vector.
        rendered = nan.replace("{{ variables.reporter }}", "destination").replace("{{ namespace }}", ns)
        rendered = rendered.replace("{{ target }}", "nan").replace("{{ interval }}", "30s")
        answer = prometheus.query(rendered)["result"]
        slow_queries = len(slow.requests)

    assert phases == {
        "good": "Succeeded",
        "promdown": "Failed",
        "empty": "Failed",
        "nan": "Failed",
        "slow": "Failed",
    }, passes.subjects()
    promoted(kube, ns, "good")
    # The controller kept reconciling every Canary in every pass, and no step was an error.
    for batch in passes.history:
        assert sorted(o.canary.partition("/")[2] for o in batch) == sorted(apps)
        assert not [o.error for o in batch if o.error], batch

    down = rolled_back(kube, repo, ns, "promdown")
    assert stopped, "promdown reached the promotion decision"
    assert f"Advance promdown.{ns} canary weight 50" in down  # judged on real data before the stop
    refused = [m for m in down if m.startswith(f"Prometheus query failed: prometheus {own.url}: ")]
    assert len(refused) == 2, down
    down_lines = metric_lines(commit_messages(repo, ns, "promdown"), "request-success-rate")
    assert any(re.fullmatch(r"- request-success-rate: [0-9.]+ \(min 99\) pass", x) for x in down_lines)
    assert any(x.startswith("- request-success-rate: query error: prometheus http") for x in down_lines), (
        down_lines
    )

    empty = rolled_back(kube, repo, ns, "empty")
    assert (
        sum(m.startswith("Halt advancement no values found for custom metric: teapots") for m in empty) == 2
    )
    assert "- teapots: no values found (max 1) fail" in metric_lines(
        commit_messages(repo, ns, "empty"), "teapots"
    )

    nans = rolled_back(kube, repo, ns, "nan")
    assert answer and all(math.isnan(float(s["value"][1])) for s in answer), answer
    assert sum(m.startswith("Halt advancement no values found for custom metric: nan") for m in nans) == 2
    assert "- nan: no values found (max 1) fail" in metric_lines(commit_messages(repo, ns, "nan"), "nan")

    slows = rolled_back(kube, repo, ns, "slow")
    timeouts = [m for m in slows if m.startswith(f"Metric query failed for slow: prometheus {slow.url}: ")]
    assert len(timeouts) == 2 and all("timeout" in m for m in timeouts), slows
    assert slow_queries >= 2, "the controller did ask the slow Prometheus"


def test_failing_webhooks_never_promote_and_a_dead_alert_receiver_stops_nothing(
    kube: KubeCluster,
    namespace: str,
    meshsim: MeshSim,
    prometheus: Prometheus,
    git_repo: RepoUrls,
) -> None:
    """Rollout webhooks answering 500, answering after their timeout, hanging; Slack unreachable."""
    ns, repo = namespace, git_repo.path
    receiver = closed_port_url()
    with (
        LoopbackServer() as ok,
        LoopbackServer() as failing,
        LoopbackServer() as late,
        LoopbackServer() as hung,
    ):
        failing.script(Reply(500, "load tester exploded"))
        late.script(Reply(200, delay=4))
        hung.script(Reply(hang=True))
        create_all(
            kube,
            [
                {
                    "apiVersion": V1BETA1,
                    "kind": "AlertProvider",
                    "metadata": {"name": "on-call-slack", "namespace": ns},
                    "spec": {
                        "type": "slack",
                        "address": receiver + "/services/T0/B0/x",
                        "channel": "on-call",
                        "username": "gitflagger",
                    },
                }
            ],
        )
        alerts = [{"name": "on-call", "severity": "info", "providerRef": {"name": "on-call-slack"}}]
        apps = {
            "good": app(ns, "good", metrics=BUILTINS, webhooks=[hook(ok.url + "/")], alerts=alerts),
            "hook5xx": app(ns, "hook5xx", metrics=BUILTINS, webhooks=[hook(failing.url + "/")]),
            "hooklate": app(ns, "hooklate", metrics=BUILTINS, webhooks=[hook(late.url + "/", timeout="1s")]),
            "hookhang": app(ns, "hookhang", metrics=BUILTINS, webhooks=[hook(hung.url + "/", timeout="1s")]),
        }
        for objects in apps.values():
            create_all(kube, objects)
        passes = Passes.build(kube, ns, repo, prometheus, list(apps))
        passes.until(dict.fromkeys(apps, "Initialized"))
        for name in apps:
            set_image(kube, ns, name, "6.0.1")
        phases = passes.until_settled()
        calls = {
            "hook5xx": len(failing.requests),
            "hooklate": len(late.requests),
            "hookhang": len(hung.requests),
        }
    log = passes.log.getvalue()

    assert phases == {"good": "Succeeded", "hook5xx": "Failed", "hooklate": "Failed", "hookhang": "Failed"}, (
        passes.subjects()
    )
    promoted(kube, ns, "good")
    for batch in passes.history:
        assert sorted(o.canary.partition("/")[2] for o in batch) == sorted(apps)
        assert not [o.error for o in batch if o.error], batch
    for name, n in calls.items():
        assert n >= 2, f"{name}'s webhook was called ({n})"
        story = rolled_back(kube, repo, ns, name)
        halts = [
            m for m in story if m.startswith(f"Halt {name}.{ns} advancement external check load-test failed")
        ]
        assert len(halts) == 2, story
        gates = [
            x
            for m in commit_messages(repo, ns, name)
            for x in m.splitlines()
            if x.startswith("- load-test (rollout): ")
        ]
        assert gates and all(x.startswith("- load-test (rollout): fail") for x in gates), gates
    assert all("500" in m for m in halts_of(kube, ns, "hook5xx"))
    assert all("timeout" in m for m in halts_of(kube, ns, "hooklate") + halts_of(kube, ns, "hookhang"))

    # The alert receiver was down for every alert of the good canary: logged, and the rollout went on.
    failed_alerts = [json.loads(x) for x in log.splitlines() if '"alert failed"' in x]
    assert failed_alerts, log[-2000:]
    assert all(a["alert"] == "on-call" and a["canary"] == "good" for a in failed_alerts), failed_alerts


def halts_of(kube: KubeCluster, ns: str, name: str) -> list[str]:
    return [
        m for _, m in canary_events(kube, ns, name) if m.startswith(f"Halt {name}.{ns} advancement external")
    ]
