"""pytest plugin: the testbed's Kubernetes control plane.

Fixtures:

``cluster`` (session)
    A started :class:`~tests.testbed.cluster.Cluster`. Builds the binaries with
    build.sh first if needed (a cold build takes a while; a failure fails the
    fixture with the build's output, nothing is skipped). State and component
    logs live under pytest's basetemp (``.../cluster0/logs``) and survive the run.
``kube_api`` (session)
    An admin ``kubernetes.client.ApiClient`` for ``cluster``.
``namespace`` (function)
    A fresh namespace for one test (its default ServiceAccount exists), deleted afterwards.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.testbed.cluster import Cluster, build

NAMESPACE_LABEL = "gitflagger.testbed/test"


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    binaries = build()
    testbed = Cluster(tmp_path_factory.mktemp("cluster"), binaries=binaries)
    testbed.start()
    try:
        yield testbed
    finally:
        testbed.stop()


@pytest.fixture(scope="session")
def kube_api(cluster: Cluster) -> Iterator[k8s_client.ApiClient]:
    api = cluster.kube_client()
    try:
        yield api
    finally:
        api.close()  # type: ignore[no-untyped-call]


def _namespace_name(test_name: str) -> str:
    stem = re.sub(r"[^a-z0-9-]+", "-", test_name.lower()).strip("-")[:40].rstrip("-") or "test"
    return f"t-{stem}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(kube_api: k8s_client.ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    core = k8s_client.CoreV1Api(kube_api)
    name = _namespace_name(request.node.name)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:63].strip("-_.") or "test"
    core.create_namespace(
        k8s_client.V1Namespace(metadata=k8s_client.V1ObjectMeta(name=name, labels={NAMESPACE_LABEL: label}))
    )
    deadline = time.monotonic() + 60
    while True:  # pods are only admitted once the namespace's default ServiceAccount exists
        try:
            core.read_namespaced_service_account("default", name)
            break
        except ApiException as exc:
            if exc.status != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    try:
        yield name
    finally:
        try:
            core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
