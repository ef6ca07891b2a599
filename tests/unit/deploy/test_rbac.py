"""deploy/rbac.yaml: least privilege, every rule explained, no way to enumerate Secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.access import FORBIDDEN, NEEDED, Access, allows
from tests.unit.deploy.deploy_files import CONTROLLER_NAMESPACE, DEPLOY, SERVICE_ACCOUNT, docs, one

RBAC = DEPLOY / "rbac.yaml"
ROLE_KINDS = ("Role", "ClusterRole")


def rules_of(relative: str = "rbac.yaml") -> list[tuple[str, dict[str, Any]]]:
    return [(f"{d['kind']} {d['metadata']['name']}", rule)
            for d in docs(relative) if d["kind"] in ROLE_KINDS for rule in d["rules"]]


def _rules() -> list[tuple[str, dict[str, Any]]]:
    return rules_of("rbac.yaml")


def rule_comments(path: Path = RBAC) -> list[list[str]]:
    """For each rule in the raw text, in order, the comment lines right above it."""
    lines = path.read_text().splitlines()
    found: list[list[str]] = []
    rules_indent: int | None = None
    item_indent: int | None = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not stripped or stripped.startswith("#"):
            continue
        if stripped == "rules:":
            rules_indent, item_indent = indent, None
            continue
        if rules_indent is None:
            continue
        if indent <= rules_indent and not stripped.startswith("- "):
            rules_indent = None
            continue
        if stripped.startswith("- ") and item_indent in (None, indent):
            item_indent = indent
            comments: list[str] = []
            j = i - 1
            while j >= 0 and lines[j].strip().startswith("#"):
                comments.insert(0, lines[j].strip().lstrip("#").strip())
                j -= 1
            found.append(comments)
    return found


def test_every_rule_says_why_it_is_needed() -> None:
    comments = rule_comments()
    rules = _rules()
    assert len(comments) == len(rules) > 0
    for (role, rule), comment in zip(rules, comments, strict=True):
        words = " ".join(comment).split()
        assert len(words) >= 8, f"{role}: rule {rule} needs a comment saying why (found {comment!r})"


def test_no_rule_lets_anyone_list_or_watch_secrets() -> None:
    for role, rule in _rules():
        core = {"", "*"} & set(rule["apiGroups"])
        if core and {"secrets", "*"} & set(rule["resources"]):
            assert not {"list", "watch", "*"} & set(rule["verbs"]), f"{role}: {rule}"


EXTERNAL_METRICS = {"apiGroups": ["external.metrics.k8s.io"], "resources": ["*"], "verbs": ["list"]}
"""The one wildcard: external metrics are resources named after the users' metrics, read-only."""
KEPTN_ANALYSES = {
    "apiGroups": ["metrics.keptn.sh"], "resources": ["analyses"], "verbs": ["create", "get", "delete"]
}
"""The one delete: the keptn provider removes the Analysis it created (RBAC cannot name it ahead)."""


def test_no_wildcards_and_no_delete() -> None:
    for role, rule in _rules():
        if rule == EXTERNAL_METRICS:
            continue
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], f"{role}: {rule}"
        dangerous = {"delete", "deletecollection", "escalate", "bind", "impersonate"}
        if rule == KEPTN_ANALYSES:
            dangerous.discard("delete")
        assert not dangerous & set(rule["verbs"]), f"{role}: {rule}"


def test_only_canary_work_is_cluster_wide() -> None:
    """The Lease is the controller's own business: a Role in its namespace, bound there."""
    roles = {d["metadata"]["name"]: d for d in docs("rbac.yaml") if d["kind"] in ROLE_KINDS}
    leases = {name for name, d in roles.items() for r in d["rules"] if "leases" in r["resources"]}
    assert leases == {"gitflagger-leader-election"}
    assert roles["gitflagger-leader-election"]["kind"] == "Role"
    assert roles["gitflagger-leader-election"]["metadata"]["namespace"] == CONTROLLER_NAMESPACE
    for d in docs("rbac.yaml"):
        if d["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            assert d["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT,
                                      "namespace": CONTROLLER_NAMESPACE}], d["metadata"]["name"]
            assert d["roleRef"]["name"] in roles


def test_secrets_have_a_cluster_role_of_their_own() -> None:
    """So an operator can swap its ClusterRoleBinding for RoleBindings in chosen namespaces."""
    holders = {role for role, rule in _rules() if "secrets" in rule["resources"]}
    assert holders == {"ClusterRole gitflagger-secrets"}


def _allows(access: Access) -> bool:
    return allows(docs("rbac.yaml"), access, app="team-a", own=CONTROLLER_NAMESPACE,
                  service_account=(CONTROLLER_NAMESPACE, SERVICE_ACCOUNT))


@pytest.mark.parametrize("access", NEEDED, ids=str)
def test_the_controller_may_do_what_it_needs(access: Access) -> None:
    assert _allows(access)


@pytest.mark.parametrize("access", FORBIDDEN, ids=str)
def test_the_controller_may_not_do_anything_else(access: Access) -> None:
    assert not _allows(access)


def test_the_evaluator_sees_no_grant_for_another_account() -> None:
    someone_else = allows(docs("rbac.yaml"), NEEDED[0], app="team-a", own=CONTROLLER_NAMESPACE,
                          service_account=("team-a", SERVICE_ACCOUNT))
    assert someone_else is False


def test_every_cluster_wide_rule_says_why_it_is_cluster_wide() -> None:
    for (role, rule), comment in zip(_rules(), rule_comments(), strict=True):
        if role.startswith("ClusterRole "):
            assert "Cluster-wide" in " ".join(comment), f"{role}: {rule} must say why it is cluster-wide"


def test_the_admission_policy_covers_every_write_the_roles_grant() -> None:
    """What RBAC grants create or patch on, the policy sees (kube-system is refused for all of it)."""
    policy = one(docs("admission-policy.yaml"), "ValidatingAdmissionPolicy")
    binding = one(docs("admission-policy.yaml"), "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    seen = {(group, resource) for r in spec["matchConstraints"]["resourceRules"]
            for group in r["apiGroups"] for resource in r["resources"]
            if {"CREATE", "UPDATE"} <= set(r["operations"])}
    written = {(group, resource) for role, rule in _rules() if {"create", "patch"} & set(rule["verbs"])
               for group in rule["apiGroups"] for resource in rule["resources"]}
    # Flux's objects get only a patch (the reconcile.fluxcd.io/requestedAt annotation) and are not
    # the users' workloads, so the policy does not watch them.
    flux = {("source.toolkit.fluxcd.io", "gitrepositories"),
            ("kustomize.toolkit.fluxcd.io", "kustomizations")}
    assert written - seen == {("", "events"), ("flagger.app", "canaries"), ("flagger.app", "canaries/status"),
                              ("coordination.k8s.io", "leases"), *flux}
    (condition,) = spec["matchConditions"]
    assert f':{SERVICE_ACCOUNT}"' in condition["expression"]
    expressions = " ".join(v["expression"] for v in spec["validations"])
    assert 'endsWith("-primary")' in expressions and '"kube-system"' in expressions
