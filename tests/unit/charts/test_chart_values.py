"""``helm lint`` and ``helm template`` of charts/gitflagger under a table of value sets.

Every value is acted on: changing any value of values.yaml changes the rendering or is
refused with an error naming it, and a value the chart does not know is refused by
values.schema.json. No cluster: the testbed's helm renders, the tests read the objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from gitflagger.render.routers import PROVIDERS
from tests.unit.charts.chart_support import (
    CHART,
    DEPLOY_REPO_URL,
    Obj,
    controller_args,
    find,
    run,
    template,
    template_error,
)

pytestmark = pytest.mark.testbed

BASE = {"repo.url": DEPLOY_REPO_URL}
TEAMS_URL = "https://example.webhook.office.com/webhookb2/g@t/IncomingWebhook/a/o"
CLUSTER_NAME = "prod eu #1: blue"
"""A cluster name YAML would misread unquoted (a comment, a mapping) reaches the flag whole."""
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
OBJECT_VALUES = {
    "podSecurityContext",
    "securityContext",
    "resources",
    "nodeSelector",
    "tolerations",
    "affinity",
}


def leaves(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in values.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and path not in OBJECT_VALUES:
            yield from leaves(value, path + ".")
        else:
            yield path, value


MUTATIONS: dict[str, Any] = {
    "image.pullPolicy": "Always",
    "meshProvider": "gatewayapi:v1",
    "applyMode": "git-only",
    "repo.auth": "ssh",
    "namespace": "gitflagger-system",
    "clusterName": "prod-eu",
    "podSecurityContext": {"runAsUser": 1000},
    "securityContext": {"readOnlyRootFilesystem": False},
    "resources": {"requests": {"cpu": "1"}},
    "nodeSelector": {"disk": "ssd"},
    "tolerations": [{"key": "dedicated", "operator": "Exists"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}
                ]
            }
        }
    },
}


def mutated(path: str, value: Any) -> Any:
    if path in MUTATIONS:
        return MUTATIONS[path]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    assert isinstance(value, str), path
    return value + "-changed" if value else "https://changed.example/hook"


def test_helm_lint_passes() -> None:
    proc = run("helm", "lint", "--strict", str(CHART), "--set", f"repo.url={DEPLOY_REPO_URL}")
    assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("path", [p for p, _ in leaves(VALUES) if p != "repo.url"])
def test_every_value_changes_the_rendering_or_is_refused_by_name(path: str) -> None:
    value = dict(leaves(VALUES))[path]
    base = template(CHART, BASE)
    changed = {**BASE, path: mutated(path, value)}
    try:
        rendered = template(CHART, changed)
    except AssertionError:
        error = template_error(CHART, changed)
        assert path in error or "/" + path.replace(".", "/") in error, error
        return
    assert rendered != base, f"{path} changed nothing"


@pytest.mark.parametrize(
    "values, refused",
    [
        ({"logLevel": "debug"}, "logLevel"),  # Flagger's, not acted on here
        ({"prometheus.install": True}, "prometheus"),
        ({"podAnnotations.x": "y"}, "podAnnotations"),
        ({"image.pullSecret": "regcred"}, "pullSecret"),
        ({"meshProvider": "linkerd"}, "meshProvider"),
        ({"applyMode": "kubectl"}, "applyMode"),
        ({"repo.auth": "oauth"}, "repo.auth"),
        ({"slack.channel": "ops"}, "slack.channel"),
        ({"leaderElection.enabled": False, "leaderElection.replicaCount": 2}, "leaderElection.replicaCount"),
        ({"namespace": "apps"}, "namespace"),  # not the release's namespace
    ],
)
def test_values_it_cannot_act_on_are_refused_naming_them(values: dict[str, Any], refused: str) -> None:
    error = template_error(CHART, {**BASE, **values}).strip()
    pointer = "/" + refused.replace(".", "/")  # the schema's errors name a value by its JSON pointer
    assert (refused in error or pointer in error) and error.count("\n") <= 3, error


def test_repo_url_is_required() -> None:
    assert "repo.url is required" in template_error(CHART, {})


def test_the_mesh_providers_are_the_controllers() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert tuple(schema["properties"]["meshProvider"]["enum"]) == PROVIDERS


def deployment(objects: list[Obj]) -> Obj:
    return find(objects, "Deployment", "gitflagger")


def pod(objects: list[Obj]) -> Obj:
    return dict(deployment(objects)["spec"]["template"]["spec"])


def container(objects: list[Obj]) -> Obj:
    return dict(pod(objects)["containers"][0])


def env(objects: list[Obj]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(objects)["env"]}


def kinds(objects: list[Obj]) -> set[str]:
    return {o["kind"] for o in objects}


Check = Callable[[list[Obj]], bool]


OPTIONAL_FLAGS = ("--mesh-provider", "--apply-mode", "--slack", "--msteams", "--cluster-name", "--namespace")


def defaults(o: list[Obj]) -> bool:
    args = controller_args(o)
    return (
        container(o)["image"] == "gitflagger:0.1.0"
        and "--leader-elect" in args
        and deployment(o)["spec"]["replicas"] == 1
        and {"Role", "ClusterRole", "CustomResourceDefinition"} <= kinds(o)
        and not kinds(o) & {"ServiceMonitor", "PrometheusRule", "Secret"}
        and not {"SLACK_URL", "MSTEAMS_URL"} & set(env(o))
        and not any(a.startswith(OPTIONAL_FLAGS) for a in args)
    )


def image(o: list[Obj]) -> bool:
    return (container(o)["image"], container(o)["imagePullPolicy"]) == (
        "registry.example.com/gf:dev",
        "Always",
    )


def metrics_and_mesh(o: list[Obj]) -> bool:
    return {"--metrics-server=http://prom:9090", "--mesh-provider=gatewayapi:v1"} <= set(controller_args(o))


def slack(o: list[Obj]) -> bool:
    return (
        find(o, "Secret", "gitflagger-slack")["stringData"]["url"].endswith("/secret")
        and env(o)["SLACK_URL"] == {"secretKeyRef": {"name": "gitflagger-slack", "key": "url"}}
        and {"--slack-channel=ops", "--slack-user=bot"} <= set(controller_args(o))
        and not any("hooks.slack.com" in a for a in controller_args(o))
    )


def msteams(o: list[Obj]) -> bool:
    return (
        find(o, "Secret", "gitflagger-msteams")["stringData"]["url"] == TEAMS_URL
        and env(o)["MSTEAMS_URL"] == {"secretKeyRef": {"name": "gitflagger-msteams", "key": "url"}}
        and "SLACK_URL" not in env(o)
        and not any("webhook" in a or a.startswith("--msteams") for a in controller_args(o))
    )


def cluster_name(o: list[Obj]) -> bool:
    return f"--cluster-name={CLUSTER_NAME}" in controller_args(o)


def leader_election_off(o: list[Obj]) -> bool:
    return "--leader-elect" not in controller_args(o) and deployment(o)["spec"]["strategy"] == {
        "type": "Recreate"
    }


def two_replicas(o: list[Obj]) -> bool:
    return deployment(o)["spec"]["replicas"] == 2 and "--leader-elect" in controller_args(o)


def placement_and_security(o: list[Obj]) -> bool:
    return (
        pod(o)["nodeSelector"] == {"disk": "ssd"}
        and pod(o)["tolerations"][0]["key"] == "dedicated"
        and pod(o)["affinity"] == MUTATIONS["affinity"]
        # Helm merges a map value into the default one, key by key (null removes a key).
        and pod(o)["securityContext"]["runAsUser"] == 1000
        and pod(o)["securityContext"]["fsGroup"] == 65532
        and container(o)["securityContext"]["readOnlyRootFilesystem"] is False
        and container(o)["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    )


def no_rbac(o: list[Obj]) -> bool:
    rbac = {
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    }
    return not kinds(o) & rbac and find(o, "ServiceAccount")["metadata"]["name"] == "gitflagger"


def no_crds(o: list[Obj]) -> bool:
    return "CustomResourceDefinition" not in kinds(o)


def crds_kept(o: list[Obj]) -> bool:
    crds = [c for c in o if c["kind"] == "CustomResourceDefinition"]
    return len(crds) == 3 and all(
        c["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for c in crds
    )


def monitoring(o: list[Obj]) -> bool:
    monitor, rule = find(o, "ServiceMonitor"), find(o, "PrometheusRule")
    return (
        monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics"}]
        and monitor["spec"]["selector"]["matchLabels"]
        == find(o, "Service", "gitflagger-metrics")["spec"]["selector"]
        and rule["metadata"]["namespace"] == "gitflagger-system"
        and rule["spec"]["groups"][0]["rules"][0]["alert"] == "canary_rollback"
    )


def ssh_repo(o: list[Obj]) -> bool:
    args = controller_args(o)
    return (
        {
            "--repo=ssh://git@git.example.com/ops/rollouts.git",
            "--branch=prod",
            "--repo-prefix=eu-1",
            "--ssh-key=/etc/gitflagger/git/identity",
            "--known-hosts=/etc/gitflagger/git/known_hosts",
        }
        <= set(args)
        and not any(a.startswith("--git-token-file") for a in args)
        and [v["secret"]["secretName"] for v in pod(o)["volumes"] if "secret" in v] == ["flux-system", "seal"]
    )


def basic_auth(o: list[Obj]) -> bool:
    return "--git-password-file=/etc/gitflagger/git/password" in controller_args(o) and env(o)[
        "GITFLAGGER_GIT_USERNAME"
    ] == {"secretKeyRef": {"name": "gitflagger-git", "key": "username"}}


def git_only(o: list[Obj]) -> bool:
    return "--apply-mode=git-only" in controller_args(o)


TABLE: list[tuple[dict[str, Any], Check]] = [
    ({}, defaults),
    (
        {"image.repository": "registry.example.com/gf", "image.tag": "dev", "image.pullPolicy": "Always"},
        image,
    ),
    ({"metricsServer": "http://prom:9090", "meshProvider": "gatewayapi:v1"}, metrics_and_mesh),
    (
        {
            "slack.url": "https://hooks.slack.com/services/T/B/secret",
            "slack.channel": "ops",
            "slack.user": "bot",
        },
        slack,
    ),
    ({"msteams.url": TEAMS_URL}, msteams),
    ({"clusterName": CLUSTER_NAME}, cluster_name),
    ({"leaderElection.enabled": False}, leader_election_off),
    ({"leaderElection.replicaCount": 2}, two_replicas),
    (
        {
            "nodeSelector": {"disk": "ssd"},
            "tolerations": MUTATIONS["tolerations"],
            "affinity": MUTATIONS["affinity"],
            "podSecurityContext": {"runAsUser": 1000},
            "securityContext": {"readOnlyRootFilesystem": False},
            "resources": {"limits": {"memory": "1Gi"}},
        },
        placement_and_security,
    ),
    ({"rbac.create": False}, no_rbac),
    ({"crd.create": False}, no_crds),
    ({}, crds_kept),
    ({"serviceMonitor.enabled": True, "prometheusRule.enabled": True}, monitoring),
    (
        {
            "repo.url": "ssh://git@git.example.com/ops/rollouts.git",
            "repo.branch": "prod",
            "repo.prefix": "eu-1",
            "repo.secretName": "flux-system",
            "repo.auth": "ssh",
            "repo.checksumKeySecretName": "seal",
        },
        ssh_repo,
    ),
    ({"repo.auth": "basic"}, basic_auth),
    ({"applyMode": "git-only"}, git_only),
]


@pytest.mark.parametrize("values, check", TABLE, ids=[c.__name__ for _, c in TABLE])
def test_a_value_set_renders_what_it_says(values: dict[str, Any], check: Check) -> None:
    objects = template(CHART, {**BASE, **values})
    assert check(objects), json.dumps([o for o in objects if o["kind"] in ("Deployment", "Secret")], indent=1)


def test_the_namespaced_mode_grants_nothing_cluster_wide() -> None:
    objects = template(CHART, {**BASE, "namespace": "apps"}, namespace="apps")
    assert "--namespace=$(POD_NAMESPACE)" in controller_args(objects)
    assert not kinds(objects) & {"ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy"}
    role = find(objects, "Role", "gitflagger")
    assert role["metadata"]["namespace"] == "apps"
    assert find(objects, "RoleBinding", "gitflagger")["subjects"] == [
        {"kind": "ServiceAccount", "name": "gitflagger", "namespace": "apps"}
    ]
