"""deploy/: every file parses the same way everywhere, the kustomization installs all of it,
and the controller's Deployment runs locked down."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML: YAML 1.1, as kubectl and the testbed's CRD installer read

from gitflagger.adapters.files import load_documents
from tests.testbed import crd_install
from tests.unit.deploy.deploy_files import (
    ALERT_PROVIDER_CRD,
    CANARY_CRD,
    CONTROLLER_NAMESPACE,
    CRDS,
    DEPLOY,
    METRIC_TEMPLATE_CRD,
    SERVICE_ACCOUNT,
    docs,
    one,
)

YAML_FILES = sorted(p.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("*.yaml"))
# Kubernetes manifests that `kubectl apply -k deploy/` deliberately leaves out, and why.
NOT_IN_KUSTOMIZATION = {
    "prometheus/prometheusrule.yaml": "needs the Prometheus Operator's CRD",
    "prometheus/alerts.yaml": "a Prometheus rule file, not a Kubernetes object",
    "namespaced/kustomization.yaml": "the namespaced mode: kubectl apply -k deploy/namespaced/",
    "namespaced/rbac.yaml": "the namespaced mode's Roles, instead of rbac.yaml's ClusterRoles",
    "namespaced/deployment.yaml": "the namespaced mode's Deployment, deployment.yaml's with --namespace",
    "loadtester/kustomization.yaml": "Flagger's load tester: kubectl apply -k deploy/loadtester/",
    "loadtester/deployment.yaml": "the load tester's Deployment (flagger-loadtester)",
    "loadtester/service.yaml": "the load tester's Service (flagger-loadtester)",
}


@pytest.mark.parametrize("relative", YAML_FILES)
def test_yaml_parses_the_same_as_yaml_1_1_and_1_2(relative: str) -> None:
    path = DEPLOY / relative
    ours = load_documents([path])  # ruamel, YAML 1.2: what gitflagger itself reads
    theirs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert ours, f"{relative} is empty"
    assert ours == theirs, f"{relative} reads differently under YAML 1.1 (e.g. octal, yes/no)"


@pytest.mark.parametrize("relative", sorted(set(YAML_FILES) - {"prometheus/alerts.yaml"}))
def test_every_object_has_a_kind_and_a_name(relative: str) -> None:
    for doc in docs(relative):
        assert doc.get("apiVersion") and doc.get("kind"), f"{relative}: {doc!r:.80}"
        if doc["kind"] != "Kustomization":
            assert doc["metadata"]["name"], relative


def test_kustomization_installs_every_manifest() -> None:
    kustomization = one(docs("kustomization.yaml"), "Kustomization")
    listed = kustomization["resources"]
    manifests = set(YAML_FILES) - {"kustomization.yaml"} - set(NOT_IN_KUSTOMIZATION)
    assert sorted(listed) == sorted(manifests)
    assert len(listed) == len(set(listed))
    # CRDs first in the file list, so a plain `kubectl apply -f` of each in order also works.
    assert listed[:3] == ["crds/canaries.yaml", "crds/metrictemplates.yaml", "crds/alertproviders.yaml"]
    deployment = one(docs("deployment.yaml"), "Deployment")
    (image,) = kustomization["images"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith(image["name"] + ":")


def test_the_testbed_installs_exactly_our_crds() -> None:
    """tests/testbed/crd_install.py picks up every CRD under deploy/crds, and only those files."""
    found = [(path.name, doc["metadata"]["name"]) for path, doc in crd_install.crd_documents([CRDS])]
    assert found == [
        ("alertproviders.yaml", ALERT_PROVIDER_CRD),
        ("canaries.yaml", CANARY_CRD),
        ("metrictemplates.yaml", METRIC_TEMPLATE_CRD),
    ]
    assert sorted(p.name for p in CRDS.iterdir()) == [name for name, _ in found]


# ---- the controller's Deployment ----------------------------------------------------------------


def _deployment() -> dict[str, Any]:
    return one(docs("deployment.yaml"), "Deployment", "gitflagger")


def _container() -> dict[str, Any]:
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    return dict(container)


def test_namespace_enforces_the_restricted_pod_security_standard() -> None:
    namespace = one(docs("deployment.yaml"), "Namespace", CONTROLLER_NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs("deployment.yaml") + docs("rbac.yaml"):
        if doc["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert doc["metadata"]["namespace"] == CONTROLLER_NAMESPACE, doc["metadata"]["name"]


def test_pod_runs_as_non_root_with_the_runtime_default_seccomp_profile() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == security["runAsGroup"] == security["fsGroup"] == 65532
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert pod["automountServiceAccountToken"] is True


def test_container_is_locked_down() -> None:
    security = _container()["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


def test_container_runs_the_controller_with_leader_election_and_metrics() -> None:
    container = _container()
    args = container["args"]
    assert args[0] == "run"
    assert "--leader-elect" in args
    assert "--metrics-addr=:8080" in args
    assert any(a.startswith("--repo=") for a in args)
    assert container["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    # gitflagger/cli/run.py: the Lease's holder identity and namespace
    downward = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
                for e in container["env"] if "valueFrom" in e}
    assert downward == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}


def test_probes_hit_healthz_and_readyz_on_the_metrics_port() -> None:
    container = _container()
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}


def test_resources_are_requested_and_memory_is_limited() -> None:
    resources = _container()["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def test_writable_paths_are_volumes_and_credentials_are_read_only_files() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in _container()["volumeMounts"]}
    home = next(e["value"] for e in _container()["env"] if e["name"] == "HOME")
    assert "emptyDir" in volumes[mounts[home]["name"]], "the clone lives under $HOME"
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    for path, secret_name in (("/etc/gitflagger/git", "gitflagger-git"),
                              ("/etc/gitflagger/checksum-key", "gitflagger-checksum-key")):
        assert mounts[path]["readOnly"] is True
        secret = volumes[mounts[path]["name"]]["secret"]
        assert secret["secretName"] == secret_name
        assert secret["defaultMode"] == 0o440  # the group (fsGroup) reads, nobody writes
    # every path an argument names is one of the mounts
    for arg in _container()["args"]:
        value = arg.partition("=")[2]
        if value.startswith("/"):
            assert any(value == m or value.startswith(m + "/") for m in mounts), arg


def test_metrics_service_selects_the_controller_pods() -> None:
    service = one(docs("deployment.yaml"), "Service", "gitflagger-metrics")
    labels = _deployment()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert _deployment()["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics",
                                         "protocol": "TCP"}]


# ---- the image ------------------------------------------------------------------------------------


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(w.upper(), rest.strip()) for w, _, rest in
            (line.partition(" ") for line in lines if line and not line.startswith("#"))]


def test_dockerfile_installs_the_package_in_a_venv_on_its_base_as_a_non_root_user() -> None:
    steps = _instructions(DEPLOY / "Dockerfile")
    # One recipe for both builds: the base is an argument, python:3.11-slim unless `make image`
    # passes its locally made Debian 12 base.
    assert ("ARG", "BASE=python:3.11-slim") in steps
    froms = [rest for op, rest in steps if op == "FROM"]
    assert froms and all(f.split()[0] == "${BASE}" for f in froms)
    runs = " ".join(rest for op, rest in steps if op == "RUN")
    assert "-m venv /opt/gitflagger" in runs and "/opt/gitflagger/bin/pip install" in runs
    assert ("COPY", "--from=build /opt/gitflagger /opt/gitflagger") in steps
    users = [rest for op, rest in steps if op == "USER"]
    assert users == ["65532:65532"], "a numeric user, so runAsNonRoot can verify it"
    pod = _deployment()["spec"]["template"]["spec"]["securityContext"]
    assert users[0] == f"{pod['runAsUser']}:{pod['runAsGroup']}"
    assert [rest for op, rest in steps if op == "ENTRYPOINT"] == ['["gitflagger"]']


def test_docker_build_context_holds_only_the_package() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()]
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*", "ignore everything, then allow what `pip wheel .` reads"
    allowed = {r for r in rules if r.startswith("!")}
    assert allowed == {"!pyproject.toml", "!README.md", "!LICENSE", "!gitflagger/"}
