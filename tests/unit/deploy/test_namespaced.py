"""deploy/namespaced/: one controller for one namespace, with no cluster-wide RBAC at all.

The access table of access.py, asked of the namespaced set: everything the
controller needs is granted in its own namespace, nothing in any other, and
nothing cluster-wide. The set's Deployment is deploy/'s plus ``--namespace``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.unit.deploy.access import ALL, APP, FORBIDDEN, NEEDED, OWN, Access, allows
from tests.unit.deploy.deploy_files import DEPLOY, SERVICE_ACCOUNT, docs, one
from tests.unit.deploy.test_rbac import EXTERNAL_METRICS, KEPTN_ANALYSES, rule_comments, rules_of

NAMESPACED = DEPLOY / "namespaced"
NAMESPACE = "apps"  # the set's placeholder namespace (kustomization.yaml's namespace:)
ELSEWHERE = "team-b"


def namespaced_docs() -> list[dict[str, Any]]:
    return [*docs("namespaced/rbac.yaml"), *docs("namespaced/deployment.yaml")]


def _allows(access: Access, *, where: str = NAMESPACE) -> bool:
    """``access`` asked in ``where`` (the app namespace and the controller's are one here)."""
    return allows(docs("namespaced/rbac.yaml"), access, app=where, own=where,
                  service_account=(NAMESPACE, SERVICE_ACCOUNT))


def test_no_cluster_wide_object_at_all() -> None:
    kinds = {d["kind"] for d in namespaced_docs()}
    assert kinds == {"ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"}
    for d in namespaced_docs():
        assert d["metadata"]["namespace"] == NAMESPACE, d["metadata"]["name"]
    (binding,) = [d for d in docs("namespaced/rbac.yaml") if d["kind"] == "RoleBinding"]
    assert binding["roleRef"]["kind"] == "Role"
    subject = {"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}
    assert binding["subjects"] == [subject]


def test_every_rule_says_why_and_none_lists_secrets_or_deletes() -> None:
    comments = rule_comments(NAMESPACED / "rbac.yaml")
    rules = rules_of("namespaced/rbac.yaml")
    assert len(comments) == len(rules) > 0
    for (role, rule), comment in zip(rules, comments, strict=True):
        assert len(" ".join(comment).split()) >= 8, f"{role}: {rule} needs a comment saying why"
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key] or rule == EXTERNAL_METRICS, f"{role}: {rule}"
        dangerous = {"delete", "deletecollection", "escalate", "bind", "impersonate"}
        if rule == KEPTN_ANALYSES:
            dangerous.discard("delete")
        assert not dangerous & set(rule["verbs"]), f"{role}: {rule}"
        if "secrets" in rule["resources"]:
            assert not {"list", "watch"} & set(rule["verbs"]), f"{role}: {rule}"


def test_the_same_rules_as_the_cluster_wide_set_only_namespaced() -> None:
    """No verb more than deploy/rbac.yaml grants: the namespaced Role is its rules, in one place."""
    cluster_wide = sorted(
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
        for _, r in rules_of("rbac.yaml"))
    namespaced = sorted(
        (tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"]), tuple(r.get("resourceNames", ())))
        for _, r in rules_of("namespaced/rbac.yaml"))
    assert namespaced == cluster_wide


@pytest.mark.parametrize("access", NEEDED, ids=str)
def test_what_the_controller_needs_is_granted_in_its_namespace(access: Access) -> None:
    """A cluster-wide list or watch of deploy/rbac.yaml is one in the controller's namespace here."""
    assert _allows(dataclasses.replace(access, namespace=APP) if access.namespace == ALL else access)


@pytest.mark.parametrize("access", NEEDED, ids=str)
def test_nothing_is_granted_in_another_namespace_or_cluster_wide(access: Access) -> None:
    assert not _allows(access, where=ELSEWHERE)  # a cluster-wide row stays cluster-wide


# The controller's namespace is the Canaries' here: creating its Lease there is no longer forbidden.
FORBIDDEN_HERE = [a for a in FORBIDDEN if dataclasses.replace(a, namespace=OWN) not in NEEDED]


@pytest.mark.parametrize("access", FORBIDDEN_HERE, ids=str)
def test_what_is_forbidden_stays_forbidden(access: Access) -> None:
    assert not _allows(access)


def test_the_deployment_is_deploys_with_namespace_added() -> None:
    ours = {d["kind"]: d for d in docs("namespaced/deployment.yaml")}
    theirs = {d["kind"]: d for d in docs("deployment.yaml") if d["kind"] != "Namespace"}
    assert ours.keys() == theirs.keys() == {"Deployment", "Service"}
    for kind, doc in theirs.items():
        expected = {**doc, "metadata": {**doc["metadata"], "namespace": NAMESPACE}}
        if kind == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            args = [container["args"][0], "--namespace=$(POD_NAMESPACE)", *container["args"][1:]]
            env = {e["name"]: e for e in container["env"]}
            assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
            template = doc["spec"]["template"]
            spec = {**template["spec"], "containers": [{**container, "args": args}]}
            expected["spec"] = {**doc["spec"], "template": {**template, "spec": spec}}
        assert ours[kind] == expected, kind


def test_the_kustomization_installs_the_set_in_one_namespace() -> None:
    kustomization = one(docs("namespaced/kustomization.yaml"), "Kustomization")
    assert kustomization["namespace"] == NAMESPACE
    files = sorted(p.name for p in NAMESPACED.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    assert kustomization["images"] == one(docs("kustomization.yaml"), "Kustomization")["images"]
