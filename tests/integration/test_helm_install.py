"""``helm install`` of charts/gitflagger into the testbed, and a rollout by the controller it describes.

The chart is installed for real (its ServiceAccount, ClusterRoles, bindings, leader-election Role,
admission policy, Deployment and Service; the CRDs are the testbed's, so ``crd.create=false``).
The testbed's nodes are kwok's: the Deployment's pod runs no process. So the controller runs
here, as ``gitflagger run`` with what the kubelet would give the pod: the arguments and
environment of the installed Deployment (read back with ``helm get manifest``), its Secret
volumes written to local directories at the paths the arguments name, and a token of the
chart's ServiceAccount (reached through ``$KUBECONFIG``, not ``--kubeconfig``). The rollout
must then run under the chart's RBAC, with its flags, from initialization to promotion.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitflagger.adapters.kube import KubeCluster
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    assert_one_clean_release,
    kube,
    phase,
    set_image,
    wait_for,
    world,
)
from tests.integration.test_deploy_rbac import Installed, admin, service_account_token  # noqa: F401
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.prometheus import Prometheus
from tests.unit.charts.chart_support import CHART, bin_dir
from tests.unit.deploy.kube_http import KubeHttp

pytestmark = pytest.mark.testbed

RELEASE = "gitflagger"
CLUSTER_SCOPED = (
    "ClusterRole",
    "ClusterRoleBinding",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
)


def helm(cluster: Cluster, home: Path, *args: str) -> str:
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": str(cluster.kubeconfig),
    }
    proc = subprocess.run(
        [str(bin_dir() / "helm"), *args], capture_output=True, text=True, env=env, timeout=180
    )
    assert proc.returncode == 0, f"helm {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def secret(admin: KubeHttp, namespace: str, name: str, data: dict[str, str]) -> None:
    r = admin.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "stringData": data,
        }
    )
    assert r.status_code in (200, 201), r.text


@pytest.fixture
def release(
    cluster: Cluster,
    admin: KubeHttp,
    namespace: str,
    git_server: GitServer,
    git_repo: RepoUrls,
    prometheus: Prometheus,
    tmp_path: Path,
) -> Iterator[list[dict[str, Any]]]:
    """The chart installed in ``namespace``, with the Secrets it mounts; its rendered objects."""
    secret(
        admin, namespace, "gitflagger-git", {"username": git_server.username, "password": git_server.password}
    )
    secret(admin, namespace, "gitflagger-checksum-key", {"key": "k" * 32})
    home = tmp_path / "helm"
    helm(
        cluster,
        home,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "--set",
        "crd.create=false",
        "--set",
        f"repo.url={git_repo.http}",
        "--set",
        "repo.auth=basic",
        "--set",
        "repo.prefix=local",
        "--set",
        f"metricsServer={prometheus.url}",
    )
    try:
        manifest = [
            d
            for d in yaml.safe_load_all(helm(cluster, home, "get", "manifest", RELEASE, "-n", namespace))
            if d
        ]
        yield manifest
    finally:
        helm(cluster, home, "uninstall", RELEASE, "-n", namespace, "--wait")


def kubelet_view(
    admin: KubeHttp, namespace: str, pod: dict[str, Any], root: Path
) -> tuple[list[str], dict[str, str]]:
    """The container's arguments and environment as the kubelet would give them, with each
    Secret volume written under ``root`` and every path into a volume moved there."""
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}
    moved: dict[str, str] = {}
    for mount in container["volumeMounts"]:
        local = root / mount["name"]
        local.mkdir(parents=True)
        source = volumes[mount["name"]]
        if "secret" in source:
            data = admin.ok("GET", f"/api/v1/namespaces/{namespace}/secrets/{source['secret']['secretName']}")
            for key, value in data["data"].items():
                (local / key).write_bytes(base64.b64decode(value))
        moved[mount["mountPath"]] = str(local)
    env: dict[str, str] = {}
    for var in container["env"]:
        ref = var.get("valueFrom", {})
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "fieldRef" in ref:
            env[var["name"]] = {"metadata.namespace": namespace, "metadata.name": "gitflagger-0"}[
                ref["fieldRef"]["fieldPath"]
            ]
        else:
            key = ref["secretKeyRef"]
            data = admin.ok("GET", f"/api/v1/namespaces/{namespace}/secrets/{key['name']}")
            env[var["name"]] = base64.b64decode(data["data"][key["key"]]).decode()

    def local(value: str) -> str:
        for mount_path, path in sorted(moved.items(), key=lambda m: -len(m[0])):
            if value == mount_path or value.startswith(mount_path + "/"):
                return path + value[len(mount_path) :]
        return value

    def local_arg(arg: str) -> str:
        flag, eq, value = arg.partition("=")
        return f"{flag}={local(value)}" if eq else arg

    args = [local_arg(a).replace("$(POD_NAMESPACE)", namespace) for a in container["args"]]
    return args, {k: local(v) for k, v in env.items()}


def test_helm_install_runs_a_rollout_under_the_charts_account_and_arguments(
    cluster: Cluster,
    admin: KubeHttp,
    kube: KubeCluster,
    namespace: str,
    world: str,
    release: list[dict[str, Any]],
    git_repo: RepoUrls,
    tmp_path: Path,
) -> None:
    ns, app = namespace, world
    installed = {(o["kind"], o["metadata"]["name"]) for o in release}
    assert {
        ("ServiceAccount", "gitflagger"),
        ("ClusterRole", "gitflagger"),
        ("ClusterRole", "gitflagger-secrets"),
        ("Role", "gitflagger-leader-election"),
        ("ValidatingAdmissionPolicy", "gitflagger-writes"),
        ("Deployment", "gitflagger"),
        ("Service", "gitflagger-metrics"),
    } <= installed
    deployment = admin.ok("GET", f"/apis/apps/v1/namespaces/{ns}/deployments/gitflagger")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "gitflagger"
    args, env = kubelet_view(admin, ns, pod, tmp_path / "pod")
    assert args[0] == "run" and "--leader-elect" in args and env["GITFLAGGER_GIT_USERNAME"]

    kubeconfig = tmp_path / "sa-kubeconfig"
    assert cluster.pki is not None
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: pod\n"
        f"clusters:\n- name: testbed\n  cluster:\n    server: {cluster.api_url}\n"
        f"    certificate-authority: {cluster.pki.ca.cert}\n"
        f"users:\n- name: pod\n  user:\n    token: {service_account_token(admin, ns)}\n"
        "contexts:\n- name: pod\n  context: {cluster: testbed, user: pod}\n"
    )
    # Loopback only: no metrics port; the git server speaks plain HTTP on loopback.
    args = [a for a in args if not a.startswith("--metrics-addr")] + [
        "--metrics-addr",
        "",
        "--allow-insecure-http",
    ]
    process_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")},
        **env,
        "KUBECONFIG": str(kubeconfig),
    }
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    log = tmp_path / "controller.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "gitflagger"), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=process_env,
            start_new_session=True,
        )

    def reached(want: str) -> bool:
        assert proc.poll() is None, f"the controller exited: {log.read_text()[-2000:]}"
        return phase(kube, app) == want

    try:
        wait_for("initialization", lambda: reached("Initialized"), 180)
        set_image(kube, app, "6.0.1")
        wait_for("the promotion", lambda: reached("Succeeded"), 300, 1)
        # It led under the chart's leader-election Role, as the pod it stands for ($POD_NAME).
        lease = admin.ok("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/gitflagger-leader")
        assert lease["spec"]["holderIdentity"].startswith("gitflagger-0"), lease["spec"]
    except BaseException:
        print(log.read_text()[-4000:])
        raise
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)
    assert proc.returncode == 0, log.read_text()[-4000:]
    assert_one_clean_release(git_repo.path, app)
