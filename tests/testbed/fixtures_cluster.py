"""pytest plugin: the testbed's Kubernetes control plane.

Fixtures:

``cluster`` (session)
    A started :class:`~tests.testbed.cluster.Cluster`. The binaries are built
    with build.sh right after collection when any selected test uses this
    fixture, so a cold build (minutes) does not count against a test's
    timeout; a failed build fails the fixture with the build's output,
    nothing is skipped. State and component logs live under pytest's basetemp
    (``.../cluster0/logs``) and survive the run.
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
from pathlib import Path

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.testbed.cluster import BINARIES, Cluster, bin_dir, build

NAMESPACE_LABEL = "gitflagger.testbed/test"
_built: Path | BaseException | None = None


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build the testbed before the first test runs if any selected test needs the cluster."""
    global _built
    if session.config.option.collectonly or not any(
        "cluster" in getattr(item, "fixturenames", ()) for item in session.items
    ):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    target = bin_dir()
    cold = not all((target / b).is_file() for b in BINARIES)
    if cold and reporter is not None:
        reporter.write_line(f"testbed: building the control plane into {target} (cold: several minutes)")
    started = time.monotonic()
    try:
        _built = build()
    except Exception as exc:  # re-raised by the cluster fixture, so the tests that need it fail
        _built = exc
    if cold and reporter is not None:
        reporter.write_line(f"testbed: build finished in {time.monotonic() - started:.0f}s")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if isinstance(_built, BaseException):
        raise _built
    binaries = _built if _built is not None else build()
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
