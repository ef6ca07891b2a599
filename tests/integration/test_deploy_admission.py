"""What RBAC cannot confine, on a real API server: admission-policy.yaml and deploy/namespaced/.

The controller's ServiceAccount, with a real token and deploy/'s RBAC, may
create and patch Secrets and ConfigMaps cluster-wide (RBAC cannot limit a
create by name); the ValidatingAdmissionPolicy lets it write only the
``-primary`` copies, and nothing in kube-system. The namespaced set grants the
same work in one namespace and nothing anywhere else.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.kube import KubeCluster
from tests.integration import controller_support, test_deploy_rbac
from tests.integration.controller_support import create, phase, podinfo, service_account_kubeconfig
from tests.integration.test_deploy_rbac import Installed, review, service_account_token
from tests.integration.test_kube_support import wait_for
from tests.testbed.cluster import Cluster
from tests.unit.adapters.loopback import LoopbackServer
from tests.unit.deploy.access import ALL, APP, NEEDED
from tests.unit.deploy.deploy_files import docs
from tests.unit.deploy.kube_http import MERGE, KubeHttp, collection, object_path

pytestmark = pytest.mark.testbed
admin = test_deploy_rbac.admin  # the fixtures, shared with test_deploy_rbac.py
installed = test_deploy_rbac.installed
controller = test_deploy_rbac.controller
kube = controller_support.kube

REFUSED = "gitflagger may only create or change the -primary copies of Secrets and ConfigMaps"
SYSTEM = "gitflagger writes nothing in kube-system, kube-public or kube-node-lease"


def obj(kind: str, namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name, "namespace": namespace},
            "data": {"token": "czNjcjN0"} if kind == "Secret" else {"key": "value"}}


def service(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"ports": [{"port": 9898}]}}


def refused(response: Any, message: str) -> bool:
    return bool(response.status_code == 403 and message in response.json().get("message", ""))


def test_the_controller_writes_only_primary_copies_of_secrets_and_configmaps(
    admin: KubeHttp, installed: Installed, controller: KubeHttp
) -> None:
    ns = installed.namespace
    for kind in ("Secret", "ConfigMap"):
        admin.ok("POST", collection("v1", kind, ns), obj(kind, ns, "podinfo-config"))
        # what a rollout does: server-side apply the copy (created, then changed)
        copy = obj(kind, ns, "podinfo-config-primary")
        assert controller.apply(copy, manager="gitflagger").status_code == 201
        copy["data"] = {"token": "bmV3"} if kind == "Secret" else {"key": "new"}
        assert controller.apply(copy, manager="gitflagger").status_code == 200
        # what it must not: change the original, or create any other name
        original = obj(kind, ns, "podinfo-config")
        assert refused(controller.apply(original, manager="gitflagger"), REFUSED), kind
        patch = controller.call("PATCH", object_path(original), {"data": {"key": "bmV3"}}, content_type=MERGE)
        assert refused(patch, REFUSED), kind
        assert refused(controller.apply(obj(kind, ns, "stolen"), manager="gitflagger"), REFUSED), kind
    # RBAC alone would have allowed those: it is the policy that refuses them ...
    assert review(admin, installed, {"verb": "create", "resource": "secrets", "namespace": ns})
    # ... and only for the controller's account
    assert admin.apply(obj("Secret", ns, "the-admins-own")).status_code == 201


@pytest.fixture
def in_kube_system(admin: KubeHttp, installed: Installed) -> Iterator[list[dict[str, Any]]]:
    """A Secret and a ConfigMap in kube-system, one of each named like a copy, removed afterwards."""
    made = [obj(kind, "kube-system", f"gitflagger-test-{installed.namespace}{suffix}")
            for kind in ("Secret", "ConfigMap") for suffix in ("", "-primary")]
    try:
        for o in made:
            admin.ok("POST", collection("v1", o["kind"], "kube-system"), o)
        yield made
    finally:
        for o in made:
            admin.call("DELETE", object_path(o))


def test_the_controller_cannot_patch_a_secret_in_kube_system(
    admin: KubeHttp, installed: Installed, controller: KubeHttp, in_kube_system: list[dict[str, Any]]
) -> None:
    assert review(admin, installed, {"verb": "patch", "resource": "secrets", "namespace": "kube-system"})
    for o in in_kube_system:
        # a copy's name passes the first rule, so the namespace rule is the one that refuses it
        why = SYSTEM if o["metadata"]["name"].endswith("-primary") else "denied request: gitflagger "
        patch = controller.call("PATCH", object_path(o), {"data": {"key": "bmV3"}}, content_type=MERGE)
        assert refused(patch, why), (o["kind"], o["metadata"]["name"], patch.text)
        assert refused(controller.apply(o, manager="gitflagger"), why), o["metadata"]["name"]
        assert admin.ok("GET", object_path(o))["data"] == o["data"]  # untouched
    apex = service("kube-system", "podinfo")
    assert refused(controller.apply(apex, manager="gitflagger", dry_run=True), SYSTEM)


# ---- deploy/namespaced/ -------------------------------------------------------------------------------


@pytest.fixture
def namespaced(admin: KubeHttp, namespace: str) -> Installed:
    """deploy/namespaced/rbac.yaml in the test's namespace, as its kustomization's namespace: would put it."""
    for doc in docs("namespaced/rbac.yaml"):
        doc["metadata"]["namespace"] = namespace
        for subject in doc.get("subjects", []):
            subject["namespace"] = namespace
        r = admin.apply(doc)
        assert r.status_code in (200, 201), f"{doc['kind']}: {r.text}"
    installed = Installed(namespace, [])
    # The API server's RBAC authorizer reads Roles from a watch cache: a new Role is in force a
    # moment after it is created, later on a loaded machine. Wait for it, not for a fixed time.
    canaries = {"verb": "list", "group": "flagger.app", "resource": "canaries", "namespace": namespace}
    wait_for("the namespaced Role to be in force", lambda: review(admin, installed, canaries))
    return installed


def test_the_namespaced_set_grants_its_namespace_and_nothing_else(
    cluster: Cluster, admin: KubeHttp, namespaced: Installed
) -> None:
    ns = namespaced.namespace
    wrong = []
    for access in NEEDED:
        here = dataclasses.replace(access, namespace=APP) if access.namespace == ALL else access
        for where, expected in ((ns, True), ("default", False)):
            verb, group, resource, subresource, namespace, name = here.at(where, where)
            attributes = {"verb": verb, "group": group, "resource": resource, "subresource": subresource,
                          "namespace": namespace, "name": name}
            if review(admin, namespaced, attributes) != expected:
                wrong.append(f"{here} in {where}: expected {'allowed' if expected else 'denied'}")
        if access.namespace == ALL:
            verb, group, resource, subresource, _, _ = access.at(ns, ns)
            attributes = {"verb": verb, "group": group, "resource": resource, "subresource": subresource}
            if review(admin, namespaced, attributes):
                wrong.append(f"{access}: expected denied")
    assert wrong == []

    http = KubeHttp(cluster, token=service_account_token(admin, ns))
    try:
        assert http.call("GET", collection("flagger.app/v1beta1", "Canary", ns)).status_code == 200
        assert http.call("GET", collection("flagger.app/v1beta1", "Canary")).status_code == 403
        assert http.apply(service(ns, "podinfo-primary"), manager="gitflagger").status_code == 201
        elsewhere = service("default", "podinfo-primary")
        assert http.apply(elsewhere, manager="gitflagger", dry_run=True).status_code == 403
        secret = obj("Secret", "default", "podinfo-token-primary")
        assert http.apply(secret, manager="gitflagger", dry_run=True).status_code == 403
    finally:
        http.close()


def test_the_controller_steps_a_canary_under_the_namespaced_rbac(
    cluster: Cluster, admin: KubeHttp, kube: KubeCluster, namespaced: Installed, tmp_path: Path
) -> None:
    """`gitflagger run --namespace NS --once` as the namespaced ServiceAccount: it initializes."""
    ns, repo = namespaced.namespace, tmp_path / "config.git"
    kubeconfig = service_account_kubeconfig(cluster, admin, namespaced, tmp_path / "kubeconfig")
    with LoopbackServer() as load_tester:
        for doc in podinfo(ns, load_tester.url + "/", interval="10s"):
            create(kube, doc)
        run = subprocess.run(
            [str(Path(sys.executable).parent / "gitflagger"), "run", "--once", "--namespace", ns,
             "--kubeconfig", str(kubeconfig), "--repo", str(repo), "--metrics-server", "http://127.0.0.1:9",
             "--metrics-addr", ""],
            capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "podinfo: " in run.stdout and "Forbidden" not in run.stdout + run.stderr
    assert kube.get("apps/v1", "Deployment", ns, "podinfo-primary") is not None
    assert kube.get("networking.istio.io/v1beta1", "VirtualService", ns, "podinfo") is not None
    assert phase(kube, ns) in ("Initializing", "Initialized")
    head = pygit2.Repository(str(repo)).references["refs/heads/main"].peel(pygit2.Commit)
    assert head.message.startswith("podinfo.")
