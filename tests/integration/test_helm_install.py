"""``helm install`` of charts/gitflagger into the testbed, and a rollout by the controller it describes.

The chart is installed for real (its ServiceAccount, ClusterRoles, bindings, leader-election Role,
admission policy, Deployment and Service; the CRDs are the testbed's, so ``crd.create=false``).
The testbed's nodes are kwok's, whose pods run no process, so the test does the kubelet's part:
it runs the image from ``make image`` under runc (tests/integration/image_support.py) as the
installed Deployment's container, read back with ``helm get manifest``: its arguments and
environment, its Secret volumes and emptyDirs at their mount paths, the chart's ServiceAccount
token, CA and namespace at the in-cluster path with KUBERNETES_SERVICE_HOST/PORT, so the
in-cluster configuration connects. Two arguments change, both for the loopback testbed:
``--metrics-addr`` binds 127.0.0.1 on a free port (the host's network is shared) and
``--allow-insecure-http`` lets the git credentials go to the git server's plain-HTTP listener.
The rollout must then run under the chart's RBAC, with its flags, from initialization to
promotion, and the pod's probes answer.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import base64
import os
import subprocess
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
from tests.integration.image_support import SA_DIR, UID, Container, bind, owned_dir, probe, unpack
from tests.integration.test_deploy_rbac import Installed, admin, service_account_token  # noqa: F401
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.prometheus import Prometheus, free_port
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


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(tmp_path_factory.mktemp("image"))


def secret_files(admin: KubeHttp, namespace: str, name: str) -> dict[str, bytes]:
    data = admin.ok("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")["data"]
    return {key: base64.b64decode(value) for key, value in data.items()}


def as_the_kubelet(
    admin: KubeHttp, cluster: Cluster, namespace: str, pod: dict[str, Any], root: Path
) -> tuple[list[str], dict[str, str], list[dict[str, Any]]]:
    """The container's arguments, environment and mounts as the kubelet would give them."""
    container = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts: list[dict[str, Any]] = []
    for mount in container["volumeMounts"]:
        source = volumes[mount["name"]]
        if "secret" in source:  # defaultMode 0440, group-readable through fsGroup
            files = secret_files(admin, namespace, source["secret"]["secretName"])
            path = owned_dir(root / mount["name"], files, source["secret"]["defaultMode"])
        else:
            assert "emptyDir" in source, source
            path = root / mount["name"]
            path.mkdir(parents=True)
            os.chown(path, UID, UID)
        mounts.append(bind(mount["mountPath"], path, read_only=bool(mount.get("readOnly"))))
    token = service_account_token(admin, namespace)
    assert cluster.pki is not None and cluster.ports is not None
    sa = owned_dir(
        root / "serviceaccount",
        {
            "token": token.encode(),
            "ca.crt": Path(cluster.pki.ca.cert).read_bytes(),
            "namespace": namespace.encode(),
        },
        0o444,
    )
    mounts.append(bind(SA_DIR, sa, read_only=True))
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(cluster.ports.apiserver)}
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
            env[var["name"]] = secret_files(admin, namespace, key["name"])[key["key"]].decode()
    args = [a.replace("$(POD_NAMESPACE)", namespace) for a in container["args"]]
    return args, env, mounts


def test_helm_install_runs_a_rollout_under_the_charts_account_and_arguments(
    cluster: Cluster,
    admin: KubeHttp,
    kube: KubeCluster,
    namespace: str,
    world: str,
    release: list[dict[str, Any]],
    git_repo: RepoUrls,
    bundle: Path,
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
    assert pod["securityContext"]["runAsUser"] == UID  # the image's own user
    args, env, mounts = as_the_kubelet(admin, cluster, ns, pod, tmp_path / "pod")
    assert args[0] == "run" and "--leader-elect" in args and "--metrics-addr=:8080" in args
    assert env["GITFLAGGER_GIT_USERNAME"] and "SLACK_URL" not in env
    port = free_port()
    args = [f"--metrics-addr=127.0.0.1:{port}" if a == "--metrics-addr=:8080" else a for a in args]
    container = Container(
        bundle,
        tmp_path,
        f"{tmp_path.name}-helm"[-60:],
        [*args, "--allow-insecure-http"],
        env,
        [
            *mounts,
            {
                "destination": "/tmp",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", "size=128m"],
            },
        ],
    )

    def alive() -> bool:
        assert container.proc is not None and container.proc.poll() is None, container.log.read_text()[-3000:]
        return True

    def reached(want: str) -> bool:
        return alive() and phase(kube, app) == want

    url = f"http://127.0.0.1:{port}"
    try:
        container.start()
        wait_for("/readyz", lambda: alive() and probe(url + "/readyz") == 200, 180, 0.2)
        assert probe(url + "/healthz") == 200
        wait_for("initialization", lambda: reached("Initialized"), 180)
        set_image(kube, app, "6.0.1")
        wait_for("the promotion", lambda: reached("Succeeded"), 300, 1)
        # It led under the chart's leader-election Role, as the pod it stands for ($POD_NAME).
        lease = admin.ok("GET", f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/gitflagger-leader")
        assert lease["spec"]["holderIdentity"].startswith("gitflagger-0"), lease["spec"]
        container.signal("TERM")
        rc = container.wait(pod["terminationGracePeriodSeconds"])
    finally:
        container.remove()
    assert rc == 0, container.log.read_text()[-3000:]
    assert_one_clean_release(git_repo.path, app)
