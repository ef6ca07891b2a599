"""Alert providers resolved from the real watch cache: no request for the provider, a change seen next pass.

The engine's :class:`~gitflagger.engine.alerting.AlertProviders` against a
KubeCluster with its caches started, on the testbed's API server. Counts are of
requests sent (``requests_made``).
"""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.notifiers import Slack
from gitflagger.engine.alerting import AlertProviders
from gitflagger.model.canary import Canary
from gitflagger.model.parse import parse_canary
from tests.integration.test_kube_cache import admin, cached  # noqa: F401 (fixtures)
from tests.integration.test_kube_cache import patch as user_patch
from tests.integration.test_kube_support import create, wait_for
from tests.unit.engine.podinfo_world import podinfo_docs

pytestmark = pytest.mark.testbed


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, message: str, **fields: Any) -> None:
        self.warnings.append(message)


def canary(namespace: str) -> Canary:
    obj = copy.deepcopy(podinfo_docs()["Canary"])
    obj["metadata"]["namespace"] = namespace
    obj["spec"]["canaryAnalysis"]["alerts"] = [
        {"name": "on-call", "severity": "warn", "providerRef": {"name": "chat"}}
    ]
    return parse_canary(obj)


def url(resolver: AlertProviders, c: Canary) -> str:
    (target,) = resolver.resolve(c, Log())
    assert isinstance(target.notifier, Slack)
    return target.notifier.url


def test_providers_come_from_the_cache_and_a_change_is_seen_the_next_pass(
    cached: KubeCluster, admin: KubeCluster, namespace: str  # noqa: F811
) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat", "namespace": namespace},
              "data": {"address": base64.b64encode(b"http://127.0.0.1:9/one").decode()}}
    create(admin, secret)
    provider = create(admin, {
        "apiVersion": "flagger.app/v1beta1", "kind": "AlertProvider",
        "metadata": {"name": "chat", "namespace": namespace},
        "spec": {"type": "slack", "channel": "ops", "secretRef": {"name": "chat"}},
    })
    wait_for("the cache to see the provider",
             lambda: cached.get("flagger.app/v1beta1", "AlertProvider", namespace, "chat"))
    resolver, c = AlertProviders(cached), canary(namespace)

    requests = cached.requests_made
    resolver.new_pass()
    assert url(resolver, c) == "http://127.0.0.1:9/one"
    assert url(resolver, c) == "http://127.0.0.1:9/one"  # the same pass: nothing read again
    assert cached.requests_made == requests + 1  # the Secret, by name; the provider from the cache

    user_patch(admin, provider, {"spec": {"secretRef": None, "address": "http://127.0.0.1:9/two"}})
    wait_for("the cache to see the edit", lambda: (cached.get(
        "flagger.app/v1beta1", "AlertProvider", namespace, "chat") or {}).get("spec", {}).get("address"))
    requests = cached.requests_made
    resolver.new_pass()
    assert url(resolver, c) == "http://127.0.0.1:9/two"
    assert cached.requests_made == requests  # no Secret any more, and the provider is cached
