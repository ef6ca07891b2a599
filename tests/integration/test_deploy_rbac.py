"""deploy/rbac.yaml and deploy/deployment.yaml on a real API server, with real RBAC.

The manifests are installed as shipped, relocated like a kustomize overlay
would (namespace gitflagger-system -> the test's namespace, cluster-scoped names
suffixed with it), so tests never collide and everything is cleaned up. Then:
the API server's own SubjectAccessReviews answer the access table of
tests/unit/deploy/access.py; the controller's ServiceAccount, with a real token,
does the controller's work and is refused the rest; and the controller's pod is
admitted under the "restricted" Pod Security Standard.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client as k8s_client

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.kube import KubeCluster
from gitflagger.adapters.kube.transport import Transport
from tests.integration.test_kube_support import wait_for
from tests.testbed.cluster import Cluster
from tests.unit.deploy.access import FORBIDDEN, LEASE, NEEDED
from tests.unit.deploy.deploy_files import (
    CONTROLLER_NAMESPACE,
    FIXTURES,
    SERVICE_ACCOUNT,
    docs,
    one,
    populated_state,
)
from tests.unit.deploy.kube_http import MERGE, KubeHttp, collection, object_path

pytestmark = pytest.mark.testbed

APP_NAMESPACE = "team-a"  # a namespace with Canaries, for the reviews (it need not exist)


@dataclass(frozen=True)
class Installed:
    """deploy/ as installed for one test: its namespace, and the objects created."""

    namespace: str
    objects: list[dict[str, Any]]

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{SERVICE_ACCOUNT}"


CLUSTER_SCOPED = ("ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy",
                  "ValidatingAdmissionPolicyBinding")


def relocate(doc: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``doc`` as a kustomize overlay with ``namespace:`` and a name suffix would emit it.

    The admission policy, cluster-wide, gets one more match condition: this
    test's ServiceAccount only, so that tests running side by side on the
    testbed never see each other's copy.
    """
    out = copy.deepcopy(doc)
    meta = out["metadata"]
    if out["kind"] in CLUSTER_SCOPED:
        meta["name"] = f"{meta['name']}-{namespace}"
    elif "namespace" in meta:
        meta["namespace"] = namespace
    if out["kind"] == "ValidatingAdmissionPolicyBinding":
        out["spec"]["policyName"] = f"{out['spec']['policyName']}-{namespace}"
    if out["kind"] == "ValidatingAdmissionPolicy":
        user = f"system:serviceaccount:{namespace}:{SERVICE_ACCOUNT}"
        out["spec"]["matchConditions"].append(
            {"name": "this-test-only", "expression": f"request.userInfo.username == {json.dumps(user)}"})
    if out["kind"] in ("RoleBinding", "ClusterRoleBinding"):
        for subject in out["subjects"]:
            subject["namespace"] = namespace
        if out["roleRef"]["kind"] == "ClusterRole":
            out["roleRef"]["name"] = f"{out['roleRef']['name']}-{namespace}"
    return out


@pytest.fixture(scope="module")
def admin(cluster: Cluster) -> Iterator[KubeHttp]:
    http = KubeHttp(cluster)
    try:
        yield http
    finally:
        http.close()


@pytest.fixture
def installed(admin: KubeHttp, namespace: str) -> Iterator[Installed]:
    # The Namespace's own labels (Pod Security) go onto the test's namespace.
    shipped_ns = one(docs("deployment.yaml"), "Namespace", CONTROLLER_NAMESPACE)
    labels = shipped_ns["metadata"]["labels"]
    admin.ok("PATCH", f"/api/v1/namespaces/{namespace}", {"metadata": {"labels": labels}}, content_type=MERGE)
    objects = [relocate(d, namespace) for d in (*docs("rbac.yaml"), *docs("admission-policy.yaml"))]
    try:
        for obj in objects:
            r = admin.apply(obj)
            assert r.status_code in (200, 201), f"{obj['kind']} {obj['metadata']['name']}: {r.text}"
        wait_until_enforced(admin, namespace)
        yield Installed(namespace, objects)
    finally:
        for obj in objects:
            if obj["kind"] in CLUSTER_SCOPED:
                admin.call("DELETE", object_path(obj))


def service_account_token(admin: KubeHttp, namespace: str) -> str:
    token: str = admin.ok("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{SERVICE_ACCOUNT}/token",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                           "spec": {"expirationSeconds": 600}})["status"]["token"]
    return token


def wait_until_enforced(admin: KubeHttp, namespace: str) -> None:
    """Until the API server enforces admission-policy.yaml (it loads policies asynchronously, in ~1 s)."""
    probe = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "not-a-copy", "namespace": namespace}}
    account = KubeHttp(admin.cluster, token=service_account_token(admin, namespace))
    try:
        wait_for("the admission policy to be enforced",
                 lambda: account.apply(probe, manager="gitflagger", dry_run=True).status_code == 403)
    finally:
        account.close()


def review(admin: KubeHttp, installed: Installed, attributes: dict[str, str]) -> bool:
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": installed.user,
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{installed.namespace}",
                       "system:authenticated"],
            "resourceAttributes": attributes,
        },
    }
    answer = admin.ok("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", body)
    return bool(answer["status"].get("allowed"))


def test_the_api_server_agrees_with_the_access_table(admin: KubeHttp, installed: Installed) -> None:
    """Every row of the table that tests/unit/deploy/test_rbac.py checks offline, asked of real RBAC."""
    wrong = []
    for access, expected in [*((a, True) for a in NEEDED), *((a, False) for a in FORBIDDEN)]:
        verb, group, resource, subresource, ns, name = access.at(APP_NAMESPACE, installed.namespace)
        attributes = {"verb": verb, "group": group, "resource": resource, "subresource": subresource,
                      "namespace": ns, "name": name}
        if review(admin, installed, attributes) != expected:
            wrong.append(f"{access}: expected {'allowed' if expected else 'denied'}")
    assert wrong == []
    # and a control: the same account in another namespace is granted nothing
    elsewhere = Installed("default", installed.objects)
    assert not review(admin, elsewhere, {"verb": "list", "group": "flagger.app", "resource": "canaries"})


@pytest.fixture
def controller(cluster: Cluster, admin: KubeHttp, installed: Installed) -> Iterator[KubeHttp]:
    """The API server as the controller sees it: a real token of its ServiceAccount."""
    http = KubeHttp(cluster, token=service_account_token(admin, installed.namespace))
    try:
        who = http.ok("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                      {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
        assert who["status"]["userInfo"]["username"] == installed.user
        yield http
    finally:
        http.close()


def test_the_controller_watches_canaries_and_reports_on_them(
    admin: KubeHttp, installed: Installed, controller: KubeHttp
) -> None:
    ns = installed.namespace
    (canary,) = load_documents([FIXTURES / "podinfo" / "canary-v1beta1.yaml"])
    canary["metadata"]["namespace"] = ns
    admin.ok("POST", collection("flagger.app/v1beta1", "Canary", ns), canary)

    listed = controller.ok("GET", collection("flagger.app/v1beta1", "Canary"))  # every namespace
    assert (ns, "podinfo") in {(c["metadata"]["namespace"], c["metadata"]["name"]) for c in listed["items"]}
    watch = controller.call("GET", collection("flagger.app/v1beta1", "Canary"), params={
        "watch": "1", "resourceVersion": listed["metadata"]["resourceVersion"], "timeoutSeconds": "1"})
    assert watch.status_code == 200, watch.text

    path = f"{collection('flagger.app/v1beta1', 'Canary', ns)}/podinfo"
    status = populated_state().to_status()
    controller.ok("PATCH", f"{path}/status", {"status": status}, content_type=MERGE)
    assert admin.ok("GET", path)["status"] == status
    for finalizers in (["finalizer.flagger.app"], None):
        controller.ok("PATCH", path, {"metadata": {"finalizers": finalizers}}, content_type=MERGE)
    event = {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "podinfo.1", "namespace": ns},
             "involvedObject": {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo",
                                "namespace": ns},
             "type": "Normal", "reason": "Synced", "message": "New revision detected podinfo.test",
             "source": {"component": "flagger"}}
    assert controller.call("POST", collection("v1", "Event", ns), event).status_code == 201
    assert controller.call("DELETE", path).status_code == 403


def test_the_controller_reads_secrets_by_name_and_cannot_enumerate_them(
    admin: KubeHttp, installed: Installed, controller: KubeHttp
) -> None:
    ns = installed.namespace
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "podinfo-token", "namespace": ns},
              "data": {"token": "czNjcjN0"}}
    admin.ok("POST", collection("v1", "Secret", ns), secret)
    assert controller.ok("GET", object_path(secret))["data"] == secret["data"]
    primary_copy = {**secret, "metadata": {"name": "podinfo-token-primary", "namespace": ns}}
    assert controller.apply(primary_copy, manager="gitflagger").status_code == 201
    for path, params in ((collection("v1", "Secret", ns), None), (collection("v1", "Secret"), None),
                         (collection("v1", "Secret", ns), {"watch": "1"})):
        assert controller.call("GET", path, params=params).status_code == 403, (path, params)
    assert controller.call("DELETE", object_path(secret)).status_code == 403


def test_the_controller_applies_generated_objects_and_scales_the_target(
    installed: Installed, controller: KubeHttp
) -> None:
    ns = installed.namespace
    labels = {"app": "podinfo-primary"}
    container = {"name": "podinfod", "image": "ghcr.io/stefanprodan/podinfo:6.0.0"}
    primary = {"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "podinfo-primary", "namespace": ns},
               "spec": {"replicas": 0, "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}}}
    routes = [{"destination": {"host": "podinfo-primary"}, "weight": 100},
              {"destination": {"host": "podinfo-canary"}, "weight": 0}]
    vs = {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
          "metadata": {"name": "podinfo", "namespace": ns},
          "spec": {"hosts": ["podinfo"], "http": [{"route": routes}]}}
    for obj in (primary, vs):
        # as the apply stage does it: read live, server-side dry run, apply
        assert controller.call("GET", object_path(obj)).status_code == 404
        dry = controller.apply(obj, manager="gitflagger", dry_run=True)
        assert dry.status_code == 201, dry.text
        assert controller.apply(obj, manager="gitflagger").status_code == 201
    assert controller.ok("GET", object_path(vs))["spec"]["http"][0]["route"] == routes
    scale = controller.call("PATCH", f"{object_path(primary)}/scale", {"spec": {"replicas": 0}},
                            content_type=MERGE)
    assert scale.status_code == 200, scale.text
    assert controller.call("DELETE", object_path(primary)).status_code == 403
    assert controller.call("PUT", object_path(primary), primary).status_code == 403


def test_the_controllers_watch_caches_sync_and_secrets_are_only_read_by_name(
    cluster: Cluster, admin: KubeHttp, installed: Installed, controller: KubeHttp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``gitflagger run``'s caches, cluster-wide as the controller runs them, under the shipped RBAC."""
    ns = installed.namespace
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": ns},
              "data": {"password": "czNjcjN0"}}
    admin.ok("POST", collection("v1", "Secret", ns), secret)
    sent: list[tuple[str, str, dict[str, str]]] = []
    send = Transport._send

    def recording(self: Transport, method: str, path: str, query: Any, *args: Any) -> Any:
        sent.append((method, path, dict(query)))
        return send(self, method, path, query, *args)

    monkeypatch.setattr(Transport, "_send", recording)
    assert cluster.pki is not None
    configuration = k8s_client.Configuration()
    configuration.host = cluster.api_url
    configuration.ssl_ca_cert = str(cluster.pki.ca.cert)
    configuration.api_key = {"authorization": controller.session.headers["Authorization"]}
    kube = KubeCluster(k8s_client.ApiClient(configuration), qps=200, burst=200)
    try:
        caches = kube.start_caches(None)
        wait_for("the caches to sync", lambda: caches.synced)
        assert [c.resource.kind for c in caches.caches.values() if not c.serving] == []  # none fell back
        _, secrets = kube.get_configs(ns, [("secret", "db")])
        assert secrets["db"]["data"] == secret["data"]
    finally:
        kube.close()
    secret_requests = [(m, p, q) for m, p, q in sent if "/secrets" in p]
    assert secret_requests == [("GET", f"/api/v1/namespaces/{ns}/secrets/db", {})]
    watched = {p for m, p, q in sent if q.get("watch") == "1"}
    assert watched >= {"/apis/apps/v1/deployments", "/api/v1/configmaps", "/api/v1/services",
                       "/apis/networking.istio.io/v1beta1/virtualservices"}


def test_the_gateway_api_router_applies_and_watches_http_routes_under_the_shipped_rbac(
    cluster: Cluster, installed: Installed, controller: KubeHttp
) -> None:
    """``gitflagger run --mesh-provider gatewayapi:v1``: HTTPRoutes applied, read back and watched."""
    ns = installed.namespace
    backends = [{"name": "podinfo-primary", "port": 9898, "weight": 100},
                {"name": "podinfo-canary", "port": 9898, "weight": 0}]
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "podinfo", "namespace": ns},
             "spec": {"parentRefs": [{"name": "public"}], "rules": [{"backendRefs": backends}]}}
    assert controller.call("GET", object_path(route)).status_code == 404
    assert controller.apply(route, manager="gitflagger", dry_run=True).status_code == 201
    assert controller.apply(route, manager="gitflagger").status_code == 201
    live = controller.ok("GET", object_path(route))
    assert [b["weight"] for b in live["spec"]["rules"][0]["backendRefs"]] == [100, 0]
    assert controller.call("DELETE", object_path(route)).status_code == 403
    assert cluster.pki is not None
    configuration = k8s_client.Configuration()
    configuration.host = cluster.api_url
    configuration.ssl_ca_cert = str(cluster.pki.ca.cert)
    configuration.api_key = {"authorization": controller.session.headers["Authorization"]}
    kube = KubeCluster(k8s_client.ApiClient(configuration), qps=200, burst=200)
    try:
        caches = kube.start_caches(None, provider="gatewayapi:v1")
        wait_for("the caches to sync", lambda: caches.synced)
        assert [c.resource.kind for c in caches.caches.values() if not c.serving] == []  # none fell back
        assert "HTTPRoute" in {c.resource.kind for c in caches.caches.values()}
    finally:
        kube.close()


def test_the_controller_elects_a_leader_in_its_own_namespace_only(
    installed: Installed, controller: KubeHttp
) -> None:
    ns = installed.namespace
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": LEASE, "namespace": ns},
             "spec": {"holderIdentity": "gitflagger-0", "leaseDurationSeconds": 15}}
    created = controller.ok("POST", collection("coordination.k8s.io/v1", "Lease", ns), lease)
    created["spec"]["holderIdentity"] = "gitflagger-1"
    assert controller.ok("PUT", object_path(created), created)["spec"]["holderIdentity"] == "gitflagger-1"
    elsewhere = {**lease, "metadata": {"name": LEASE, "namespace": "default"}}
    refused = controller.call("POST", collection("coordination.k8s.io/v1", "Lease", "default"), elsewhere)
    assert refused.status_code == 403


def test_the_controller_pod_is_admitted_under_the_restricted_pod_security_standard(
    admin: KubeHttp, installed: Installed
) -> None:
    ns = installed.namespace
    shipped = {d["kind"]: relocate(d, ns) for d in docs("deployment.yaml") if d["kind"] != "Namespace"}
    for kind in ("Deployment", "Service"):
        r = admin.apply(shipped[kind], dry_run=True)
        assert r.status_code == 201, f"{kind}: {r.text}"

    template = shipped["Deployment"]["spec"]["template"]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "gitflagger-0", "namespace": ns, **template["metadata"]},
           "spec": template["spec"]}
    admitted = admin.call("POST", collection("v1", "Pod", ns), pod, params={"dryRun": "All"})
    assert admitted.status_code == 201, admitted.text
    # The check is live: the same pod without the container's securityContext is refused.
    loose = copy.deepcopy(pod)
    del loose["spec"]["containers"][0]["securityContext"]
    refused = admin.call("POST", collection("v1", "Pod", ns), loose, params={"dryRun": "All"})
    assert refused.status_code == 403
    assert 'violates PodSecurity "restricted:latest"' in refused.json()["message"]


def test_the_controller_may_read_what_the_cluster_metrics_providers_read(
    installed: Installed, controller: KubeHttp
) -> None:
    """keptn gets a KeptnMetric by name; externalmetrics GETs one metric, authorized as a list.

    The testbed serves no external metrics API, and no KeptnMetric is named: an allowed
    request is 404 (authorization comes first), a refused one 403.
    """
    ns = installed.namespace
    external = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{ns}/http_requests_errors"
    assert controller.call("GET", external, params={"labelSelector": "app=podinfo"}).status_code == 404
    keptn = f"/apis/metrics.keptn.sh/v1beta1/namespaces/{ns}/keptnmetrics"
    assert controller.call("GET", f"{keptn}/podinfo-errors").status_code == 404
    for refused in (keptn, f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{ns}/pods/podinfo/errors"):
        assert controller.call("GET", refused).status_code == 403, refused
