"""What the controller's ServiceAccount must and must not be allowed to do.

One table, checked twice: offline against deploy/rbac.yaml by :func:`allows`
(a small RBAC evaluator), and on the testbed by the API server's own
SubjectAccessReviews, so the evaluator cannot drift from real RBAC.

Namespaces in the table are symbolic: ``ALL`` is a cluster-wide request (a list
or watch across namespaces), ``APP`` any namespace that holds Canaries, ``OWN``
the controller's namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALL = "<all namespaces>"
APP = "<a Canary's namespace>"
OWN = "<the controller's namespace>"


@dataclass(frozen=True)
class Access:
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = APP
    name: str = ""

    def __str__(self) -> str:
        res = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        named = f" {self.name}" if self.name else ""
        return f"{self.verb} {self.group or 'core'}/{res}{named} in {self.namespace}"

    def at(self, app: str, own: str) -> tuple[str, str, str, str, str, str]:
        """(verb, group, resource, subresource, namespace, name) with real namespaces ('' for all)."""
        ns = {ALL: "", APP: app, OWN: own}[self.namespace]
        return self.verb, self.group, self.resource, self.subresource, ns, self.name


def _each(verbs: str, group: str, resources: str, subresource: str = "", *namespaces: str) -> list[Access]:
    return [
        Access(verb, group, resource, subresource, ns)
        for verb in verbs.split()
        for resource in resources.split()
        for ns in (namespaces or (APP,))
    ]


LEASE = "gitflagger-leader"
"""The leader-election Lease (gitflagger/cli/run.py ``LEASE_NAME``)."""

NEEDED: list[Access] = [
    # the run loop: list and watch every Canary; finalizer and status through merge patches
    *_each("list watch", "flagger.app", "canaries", "", ALL),
    *_each("get patch", "flagger.app", "canaries"),
    *_each("patch", "flagger.app", "canaries", "status"),
    *_each("update", "flagger.app", "canaries", "finalizers"),
    *_each("get", "flagger.app", "metrictemplates alertproviders"),
    *_each("list watch", "flagger.app", "alertproviders", "", ALL),
    # metrics providers that read the cluster: keptn gets a KeptnMetric by name, and
    # creates, gets and deletes an Analysis; externalmetrics GETs
    # .../namespaces/<ns>/<metric>, which RBAC sees as a list
    *_each("get", "metrics.keptn.sh", "keptnmetrics"),
    *_each("create get delete", "metrics.keptn.sh", "analyses"),
    *_each("list", "external.metrics.k8s.io", "http_requests_errors"),
    # observe and apply: watch caches (list, watch) in the run loop, by name (get) in
    # reconcile; PATCH applies (and creates when absent)
    *_each("get create patch", "apps", "deployments"),
    *_each("list watch", "apps", "deployments", "", ALL, APP),
    *_each("patch", "apps", "deployments", "scale"),
    # DaemonSet targets and KEDA ScaledObjects: read by name, applied, and merge-patched
    # (the scale-to-zero node selector; the paused-replicas annotation); never cached
    *_each("get create patch", "apps", "daemonsets"),
    *_each("get create patch", "keda.sh", "scaledobjects"),
    *_each("get list watch create patch", "autoscaling", "horizontalpodautoscalers"),
    *_each("list watch", "autoscaling", "horizontalpodautoscalers", "", ALL),
    *_each("get create patch", "", "services configmaps secrets"),
    *_each("list watch", "", "services configmaps", "", ALL, APP),
    *_each("get create patch", "networking.istio.io", "virtualservices destinationrules"),
    *_each("list watch", "networking.istio.io", "virtualservices destinationrules", "", ALL, APP),
    *_each("get create patch", "gateway.networking.k8s.io", "httproutes"),
    *_each("list watch", "gateway.networking.k8s.io", "httproutes", "", ALL, APP),
    *_each("create patch", "", "events"),
    # git-only mode with Flux: the nudge (an annotation), finding and reading the Kustomization
    *_each("get patch", "source.toolkit.fluxcd.io", "gitrepositories", "", APP, OWN),
    *_each("get patch", "kustomize.toolkit.fluxcd.io", "kustomizations", "", APP, OWN),
    *_each("list", "kustomize.toolkit.fluxcd.io", "kustomizations", "", ALL, APP),
    # leader election in its own namespace, on its own Lease
    Access("create", "coordination.k8s.io", "leases", namespace=OWN),
    Access("get", "coordination.k8s.io", "leases", namespace=OWN, name=LEASE),
    Access("update", "coordination.k8s.io", "leases", namespace=OWN, name=LEASE),
]

FORBIDDEN: list[Access] = [
    # No enumerating Secrets, anywhere; no changing or deleting the ones that exist.
    *_each("list watch", "", "secrets", "", ALL, APP, OWN),
    *_each("update delete deletecollection", "", "secrets"),
    # Only the watch-cached kinds are listed: everything else is read by name.
    *_each("list watch", "flagger.app", "metrictemplates", "", ALL),
    *_each("list watch", "coordination.k8s.io", "leases", "", ALL),
    *_each("list watch", "apps", "replicasets", "", ALL, APP),
    *_each("list watch", "apps", "daemonsets", "", ALL, APP),
    *_each("list watch", "keda.sh", "scaledobjects", "", ALL, APP),
    # Generated objects go away with their Canary (garbage collector); writes are patches.
    *_each("update delete", "apps", "deployments"),
    *_each("update delete", "apps", "daemonsets"),
    *_each("update delete", "keda.sh", "scaledobjects"),
    *_each("update", "apps", "deployments", "scale"),
    *_each("update delete", "", "services configmaps"),
    *_each("delete", "networking.istio.io", "virtualservices destinationrules"),
    *_each("update delete", "gateway.networking.k8s.io", "httproutes"),
    *_each("delete", "autoscaling", "horizontalpodautoscalers"),
    # Canaries are the users'; the controller reads them and patches status and finalizers.
    *_each("create update delete", "flagger.app", "canaries"),
    *_each("update", "flagger.app", "canaries", "status"),
    *_each("create update delete", "flagger.app", "metrictemplates alertproviders"),
    *_each("create", "events.k8s.io", "events"),
    # KeptnMetrics are read by name only and never written; external metrics are only listed.
    *_each("list watch", "metrics.keptn.sh", "keptnmetrics", "", ALL, APP),
    *_each("create update patch delete", "metrics.keptn.sh", "keptnmetrics"),
    # Analyses are the provider's own, by name: never listed, watched, updated or patched.
    *_each("list watch", "metrics.keptn.sh", "analyses", "", ALL, APP),
    *_each("update patch", "metrics.keptn.sh", "analyses"),
    *_each("get watch create", "external.metrics.k8s.io", "http_requests_errors"),
    *_each("get list", "custom.metrics.k8s.io", "pods"),
    # Leader election is confined to the controller's namespace and its own Lease.
    *_each("get create update", "coordination.k8s.io", "leases", "", APP, ALL),
    Access("get", "coordination.k8s.io", "leases", namespace=OWN),
    Access("update", "coordination.k8s.io", "leases", namespace=OWN, name="someone-elses-lease"),
    Access("delete", "coordination.k8s.io", "leases", namespace=OWN, name=LEASE),
    # Flux's objects are nudged and read, never changed otherwise, watched or deleted.
    *_each("list watch update delete", "source.toolkit.fluxcd.io", "gitrepositories"),
    *_each("watch update delete", "kustomize.toolkit.fluxcd.io", "kustomizations"),
    # Nothing it does not use.
    *_each("get list", "", "pods", "", APP, ALL),
    *_each("create", "", "pods", "exec"),
    *_each("create", "rbac.authorization.k8s.io", "clusterroles clusterrolebindings", "", ALL),
    *_each("create", "rbac.authorization.k8s.io", "roles rolebindings"),
    *_each("impersonate", "", "serviceaccounts"),
    *_each("create", "", "serviceaccounts", "token"),
    *_each("update", "", "namespaces", "", ALL),
]


def allows(documents: Iterable[Mapping[str, Any]], access: Access, *, app: str, own: str,
           service_account: tuple[str, str]) -> bool:
    """Does RBAC in ``documents`` let ``service_account`` (namespace, name) do ``access``?

    Enough of the RBAC authorizer for plain rules: bindings whose subjects name the
    account, their Role or ClusterRole, apiGroups/resources/verbs with ``*``, and
    resourceNames (which only match a request naming one of them). A RoleBinding
    grants only in its own namespace, never cluster-wide.
    """
    docs = list(documents)
    verb, group, resource, subresource, namespace, name = access.at(app, own)
    full = f"{resource}/{subresource}" if subresource else resource
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        subject = {"kind": "ServiceAccount", "namespace": service_account[0], "name": service_account[1]}
        if not any({k: s.get(k) for k in subject} == subject for s in binding.get("subjects", [])):
            continue
        scope = binding["metadata"].get("namespace", "")
        if binding["kind"] == "RoleBinding" and scope != namespace:
            continue
        ref = binding["roleRef"]
        role = roles.get((ref["kind"], scope if ref["kind"] == "Role" else "", ref["name"]))
        for rule in (role or {}).get("rules", []):
            names = rule.get("resourceNames")
            if (_matches(rule.get("apiGroups"), group) and _matches(rule.get("resources"), full)
                    and _matches(rule.get("verbs"), verb) and (not names or name in names)):
                return True
    return False


def _matches(allowed: Iterable[str] | None, value: str) -> bool:
    items = list(allowed or [])
    return "*" in items or value in items
