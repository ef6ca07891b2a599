"""Alert providers are resolved by observe: once per pass, rebuilt only on a change, never fatal."""

from __future__ import annotations

import base64
import copy
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.notifiers import Slack
from gitflagger.engine.alerting import AlertProviders
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.engine.fake_cluster import FakeCluster
from tests.unit.engine.podinfo_world import World, podinfo_docs


class Counting(FakeCluster):
    """A FakeCluster that counts reads by kind."""

    def __init__(self, *objects: Any) -> None:
        super().__init__(*objects)
        self.gets: dict[str, int] = {}

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.gets[kind] = self.gets.get(kind, 0) + 1
        return super().get(api_version, kind, namespace, name)


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, **fields: Any) -> None:
        self.warnings.append(f"{message} {fields}")


def provider(name: str = "on-call", address: str = "", secret: str | None = "chat") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "slack", "channel": "ops"}
    if address:
        spec["address"] = address
    if secret:
        spec["secretRef"] = {"name": secret}
    return {"apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
            "metadata": {"name": name, "namespace": "test"}, "spec": spec}


def secret(address: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat", "namespace": "test"},
            "data": {"address": base64.b64encode(address.encode()).decode()}}


def canary(name: str, *providers: str) -> Canary:
    obj = copy.deepcopy(podinfo_docs()["Canary"])
    obj["metadata"]["name"] = name
    obj["metadata"]["namespace"] = "test"
    obj["spec"]["canaryAnalysis"]["alerts"] = [
        {"name": f"alert-{p}", "severity": "warn", "providerRef": {"name": p}} for p in providers
    ]
    return parse_canary(obj)


def url_of(resolver: AlertProviders, c: Canary) -> list[str]:
    out = []
    for target in resolver.resolve(c, Log()):
        assert isinstance(target.notifier, Slack)
        out.append(target.notifier.url)
    return out


def test_a_provider_shared_by_many_canaries_is_read_once_per_pass() -> None:
    cluster = Counting(provider(), secret("http://127.0.0.1:1/hook"))
    resolver = AlertProviders(cluster)
    canaries = [canary(f"app{i}", "on-call") for i in range(5)]

    resolver.new_pass()
    first = [resolver.resolve(c, Log()) for c in canaries]

    assert cluster.gets == {"AlertProvider": 1, "Secret": 1}
    assert {t.notifier for targets in first for t in targets} == {first[0][0].notifier}
    assert (first[0][0].name, first[0][0].severity) == ("alert-on-call", "warn")


def test_an_unchanged_provider_keeps_its_notifier_and_a_changed_one_is_rebuilt() -> None:
    cluster = Counting(provider(), secret("http://127.0.0.1:1/one"))
    resolver = AlertProviders(cluster)
    c = canary("podinfo", "on-call")

    resolver.new_pass()
    (before,) = resolver.resolve(c, Log())
    resolver.new_pass()
    (same,) = resolver.resolve(c, Log())
    assert same.notifier is before.notifier  # not parsed nor built again
    assert cluster.gets == {"AlertProvider": 2, "Secret": 2}  # Secrets are not watched: read each pass

    cluster.put(secret("http://127.0.0.1:1/two"))  # a new resourceVersion
    resolver.new_pass()
    assert url_of(resolver, c) == ["http://127.0.0.1:1/two"]

    cluster.put(provider(address="http://127.0.0.1:1/three", secret=None))
    resolver.new_pass()
    assert url_of(resolver, c) == ["http://127.0.0.1:1/three"]


def test_within_a_pass_a_change_waits_for_the_next_pass() -> None:
    cluster = Counting(provider(address="http://127.0.0.1:1/one", secret=None))
    resolver = AlertProviders(cluster)
    c = canary("podinfo", "on-call")
    resolver.new_pass()
    assert url_of(resolver, c) == ["http://127.0.0.1:1/one"]
    cluster.put(provider(address="http://127.0.0.1:1/two", secret=None))
    assert url_of(resolver, c) == ["http://127.0.0.1:1/one"]
    resolver.new_pass()
    assert url_of(resolver, c) == ["http://127.0.0.1:1/two"]


def test_missing_and_invalid_providers_are_left_out_and_logged_once() -> None:
    bad = provider("bad", secret=None)
    bad["spec"]["type"] = "pager"
    cluster = Counting(provider("good", address="http://127.0.0.1:1/hook", secret=None), bad)
    resolver = AlertProviders(cluster)
    c = canary("podinfo", "missing", "bad", "good")
    log = Log()

    for _ in range(3):
        resolver.new_pass()
        targets = resolver.resolve(c, log)
        assert [t.name for t in targets] == ["alert-good"]

    assert len(log.warnings) == 2
    assert "alert provider not found" in log.warnings[0] and "test/missing" in log.warnings[0]
    assert "alert provider unusable" in log.warnings[1] and "spec.type" in log.warnings[1]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with LoopbackServer() as prometheus, LoopbackServer() as hooks:
        w = World(tmp_path, prometheus, hooks)
        w.cluster = Counting(*w.cluster.objects.values())
        w.ctx = dataclasses.replace(w.ctx, cluster=w.cluster, alert_providers=AlertProviders(w.cluster))
        yield w


def test_report_reads_no_provider_a_step_reads_each_once(world: World) -> None:
    assert isinstance(world.cluster, Counting)
    with LoopbackServer() as slack:
        world.cluster.put(provider(address=slack.url + "/hook", secret=None))
        world.canary["spec"]["canaryAnalysis"]["alerts"] = [
            {"name": "a", "severity": "info", "providerRef": {"name": "on-call"}},
            {"name": "b", "severity": "warn", "providerRef": {"name": "on-call"}},
        ]
        world.initialized()
        world.set_image("6.0.1")
        world.metrics.success_rate = 70.0
        before = world.cluster.gets.get("AlertProvider", 0)
        steps = len(world.until("Failed"))
        reads = world.cluster.gets["AlertProvider"] - before
        posts = len(slack.requests)
    assert posts > steps  # both alerts get the halts, the rollback and the failure
    assert reads == steps  # observe, once per pass (here a pass is one step); report none
