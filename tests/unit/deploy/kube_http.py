"""Plain HTTP to the testbed's API server, for the testbed tests of deploy/.

The generated client hides what these tests are about: status codes (is this
403?), content types (server-side apply, the Table API) and who is asking (the
admin certificate, or the controller's own ServiceAccount token). So they speak
HTTP, like kubectl does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from tests.testbed.cluster import Cluster

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"

# kind -> (plural, namespaced), for the kinds deploy/ and these tests write
RESOURCES: dict[str, tuple[str, bool]] = {
    "Namespace": ("namespaces", False),
    "ServiceAccount": ("serviceaccounts", True),
    "ClusterRole": ("clusterroles", False),
    "ClusterRoleBinding": ("clusterrolebindings", False),
    "Role": ("roles", True),
    "RoleBinding": ("rolebindings", True),
    "Deployment": ("deployments", True),
    "Service": ("services", True),
    "Pod": ("pods", True),
    "Secret": ("secrets", True),
    "ConfigMap": ("configmaps", True),
    "ValidatingAdmissionPolicy": ("validatingadmissionpolicies", False),
    "ValidatingAdmissionPolicyBinding": ("validatingadmissionpolicybindings", False),
    "Lease": ("leases", True),
    "Event": ("events", True),
    "VirtualService": ("virtualservices", True),
    "HTTPRoute": ("httproutes", True),
    "Canary": ("canaries", True),
    "MetricTemplate": ("metrictemplates", True),
    "AlertProvider": ("alertproviders", True),
}


def collection(api_version: str, kind: str, namespace: str = "") -> str:
    """``/api/v1/namespaces/ns/pods``, ``/apis/flagger.app/v1beta1/canaries`` (all namespaces)..."""
    plural, namespaced = RESOURCES[kind]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    scope = f"/namespaces/{namespace}" if namespaced and namespace else ""
    return f"{prefix}{scope}/{plural}"


def object_path(obj: Mapping[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{collection(obj['apiVersion'], obj['kind'], meta.get('namespace', ''))}/{meta['name']}"


class KubeHttp:
    """One identity's HTTP session with the API server."""

    def __init__(self, cluster: Cluster, *, token: str | None = None) -> None:
        assert cluster.pki is not None, "cluster not started"
        self.cluster = cluster
        self.url = cluster.api_url
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(cluster.pki.ca.cert)
        if token is None:
            self.session.cert = (str(cluster.pki.admin.cert), str(cluster.pki.admin.key))
        else:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def call(self, method: str, path: str, body: Any = None, *, params: Mapping[str, str] | None = None,
             content_type: str = "application/json", accept: str = "application/json") -> requests.Response:
        return self.session.request(
            method, self.url + path, json=body, params=params, timeout=30,
            headers={"Content-Type": content_type, "Accept": accept},
        )

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> dict[str, Any]:
        """:meth:`call`, failing the test with the server's answer unless it is 2xx."""
        r = self.call(method, path, body, **kwargs)
        assert r.ok, f"{method} {path}: HTTP {r.status_code}: {r.text[:600]}"
        answer: dict[str, Any] = r.json()
        return answer

    def apply(self, obj: Mapping[str, Any], *, manager: str = "gitflagger-tests",
              dry_run: bool = False) -> requests.Response:
        """Server-side apply ``obj`` (created if absent); the raw response."""
        params = {"fieldManager": manager, "force": "true"}
        if dry_run:
            params["dryRun"] = "All"
        return self.call("PATCH", object_path(obj), obj, params=params, content_type=APPLY)
