"""The testbed's Flux: real source-controller and kustomize-controller against the testbed cluster.

The source is the testbed git server over HTTP with basic auth from a Secret.
Every apply is caused by a commit and a ``reconcile.fluxcd.io/requestedAt``
annotation (the objects' interval is 10 minutes), which is what git-only mode
relies on: a nudge takes effect at once.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from tests.testbed.flux import Flux, commit_files, ready_condition
from tests.testbed.gitserver import GitServer, RepoUrls

pytestmark = pytest.mark.testbed


def configmap(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  value: {value!r}\n"


def read_configmap(kube_api: k8s_client.ApiClient, namespace: str, name: str) -> Any:
    try:
        return k8s_client.CoreV1Api(kube_api).read_namespaced_config_map(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def setup_source(flux: Flux, git_server: GitServer, git_repo: RepoUrls, namespace: str, *,
                 password: str | None = None) -> None:
    flux.git_source(namespace, "config", git_repo.http, username=git_server.username,
                    password=password or git_server.password)
    flux.kustomization(namespace, "apps", source="config", path="./apps", target_namespace=namespace)


def test_flux_applies_each_nudged_commit_and_prunes(
    flux: Flux, git_server: GitServer, git_repo: RepoUrls, namespace: str, kube_api: k8s_client.ApiClient
) -> None:
    files = {"apps/a.yaml": configmap("a", "1"), "apps/b.yaml": configmap("b", "1")}
    first = commit_files(git_repo.path, files, "apps: a and b")
    setup_source(flux, git_server, git_repo, namespace)
    applied = flux.wait_applied(namespace, "apps", revision=first)
    assert applied["status"]["lastAppliedRevision"] == f"main@sha1:{first}"
    a = read_configmap(kube_api, namespace, "a")
    assert a.data == {"value": "1"}
    assert read_configmap(kube_api, namespace, "b") is not None
    appliers = {(m.manager, m.operation) for m in a.metadata.managed_fields}
    assert ("kustomize-controller", "Apply") in appliers, appliers

    # A new commit, then the nudge: applied long before the 10-minute interval; b.yaml is pruned.
    second = commit_files(git_repo.path, {"apps/a.yaml": configmap("a", "2"), "apps/b.yaml": None},
                          "apps: a=2, drop b")
    flux.reconcile(namespace, "config")
    flux.wait_applied(namespace, "apps", revision=second, timeout=60)
    assert read_configmap(kube_api, namespace, "a").data == {"value": "2"}
    flux.wait_for("ConfigMap b pruned", lambda: read_configmap(kube_api, namespace, "b") is None, timeout=30)


def test_a_broken_manifest_fails_the_kustomization_with_fluxs_message(
    flux: Flux, git_server: GitServer, git_repo: RepoUrls, namespace: str, kube_api: k8s_client.ApiClient
) -> None:
    good = commit_files(git_repo.path, {"apps/a.yaml": configmap("a", "1")}, "apps: a")
    setup_source(flux, git_server, git_repo, namespace)
    flux.wait_applied(namespace, "apps", revision=good)

    broken = commit_files(git_repo.path, {"apps/a.yaml": configmap("a", "2") + "  - not: a map entry\n"},
                          "apps: broken yaml")
    flux.reconcile(namespace, "config")

    def failed() -> dict[str, Any] | None:
        obj = flux.get("Kustomization", namespace, "apps") or {}
        cond = ready_condition(obj)
        fresh = obj.get("status", {}).get("lastAttemptedRevision", "").endswith(broken)
        return cond if fresh and cond is not None and cond["status"] == "False" else None

    cond = flux.wait_for("Kustomization Ready=False on the broken commit", failed, timeout=60)
    assert cond["reason"] == "BuildFailed", cond
    assert "a.yaml" in cond["message"], cond
    obj = flux.get("Kustomization", namespace, "apps") or {}
    assert obj["status"]["lastAppliedRevision"].endswith(good)  # the last good commit stays applied
    assert read_configmap(kube_api, namespace, "a").data == {"value": "1"}


def test_a_wrong_password_fails_the_source(
    flux: Flux, git_server: GitServer, git_repo: RepoUrls, namespace: str
) -> None:
    """The credentials are what lets Flux in: the same repo with a wrong password is refused."""
    setup_source(flux, git_server, git_repo, namespace, password="not-the-password")

    def failed() -> dict[str, Any] | None:
        cond = ready_condition(flux.get("GitRepository", namespace, "config") or {})
        return cond if cond is not None and cond["status"] == "False" else None

    cond = flux.wait_for("GitRepository Ready=False", failed, timeout=60)
    assert cond["reason"] == "GitOperationFailed", cond
    assert "401" in cond["message"] or "authentication" in cond["message"].lower(), cond
