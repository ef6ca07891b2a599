"""The testbed control plane behaves like a real cluster (real apiserver,
controllers and scheduler; kwok in place of kubelets) and cleans up after itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from tests.testbed.cluster import Cluster, ComponentError, repo_root
from tests.testbed.procs import port_is_free

pytestmark = pytest.mark.testbed

K8S_VERSION = "v1.36.3"
PODINFO = "ghcr.io/stefanprodan/podinfo"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0, interval: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            last = exc
        else:
            if last:
                return last  # type: ignore[return-value]
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def deployment(name: str, image: str, replicas: int = 2) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": image, "ports": [{"containerPort": 9898}]}]},
            },
        },
    }


def condition(obj: Any, kind: str) -> Any:
    return next((c for c in obj.status.conditions or [] if c.type == kind), None)


def rolled_out(apps: k8s.AppsV1Api, name: str, ns: str, generation: int, replicas: int) -> Any:
    d = apps.read_namespaced_deployment(name, ns)
    s = d.status
    done = (
        s.observed_generation == generation == d.metadata.generation
        and s.updated_replicas == replicas and s.ready_replicas == replicas
        and s.available_replicas == replicas and s.replicas == replicas
        and condition(d, "Available") is not None and condition(d, "Available").status == "True"
    )
    return d if done else None


def test_deployment_becomes_available_and_rolls_out(kube_api: k8s.ApiClient, namespace: str) -> None:
    apps, core = k8s.AppsV1Api(kube_api), k8s.CoreV1Api(kube_api)
    apps.create_namespaced_deployment(namespace, deployment("web", f"{PODINFO}:6.0.0"))

    d = wait_for("web available", lambda: rolled_out(apps, "web", namespace, 1, 2))
    assert d.status.ready_replicas == 2
    assert condition(d, "Progressing").reason == "NewReplicaSetAvailable"
    [rs1] = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
    assert rs1.metadata.owner_references[0].name == "web"
    assert (rs1.status.ready_replicas, rs1.status.available_replicas) == (2, 2)
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert len(pods) == 2
    for pod in pods:
        assert pod.metadata.owner_references[0].name == rs1.metadata.name
        assert pod.spec.node_name in {"kwok-node-0", "kwok-node-1"}  # bound by the real scheduler
        assert pod.status.phase == "Running"
        assert pod.status.pod_ip  # assigned by kwok
        assert condition(pod, "Ready").status == "True"
        assert pod.status.container_statuses[0].ready is True

    apps.patch_namespaced_deployment(
        "web", namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": f"{PODINFO}:6.0.1"}]}}}},
    )
    d = wait_for("web rolled out to 6.0.1", lambda: rolled_out(apps, "web", namespace, 2, 2))
    assert d.status.observed_generation == 2

    def old_rs_drained() -> list[Any] | None:
        sets = apps.list_namespaced_replica_set(namespace, label_selector="app=web").items
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        old = [rs for rs in sets if rs.metadata.name == rs1.metadata.name]
        ok = len(sets) == 2 and old and old[0].spec.replicas == 0 and (old[0].status.replicas or 0) == 0
        return sets if ok and len(pods) == 2 else None

    sets = wait_for("old ReplicaSet scaled to 0 and its pods gone", old_rs_drained)
    [rs2] = [rs for rs in sets if rs.metadata.name != rs1.metadata.name]
    assert rs2.spec.template.spec.containers[0].image.endswith(":6.0.1")
    assert rs2.status.ready_replicas == 2
    pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
    assert {p.spec.containers[0].image for p in pods} == {f"{PODINFO}:6.0.1"}
    assert all(p.metadata.owner_references[0].name == rs2.metadata.name for p in pods)


def test_istio_crds_store_v1beta1_and_serve_v1(kube_api: k8s.ApiClient, namespace: str) -> None:
    custom = k8s.CustomObjectsApi(kube_api)
    group = "networking.istio.io"
    vs = {
        "apiVersion": f"{group}/v1beta1", "kind": "VirtualService",
        "metadata": {"name": "podinfo"},
        "spec": {
            "hosts": ["podinfo"], "gateways": ["mesh"],
            "http": [{
                "match": [{"headers": {"x-canary": {"exact": "insider"}}}],
                "route": [
                    {"destination": {"host": "podinfo-primary", "port": {"number": 9898}}, "weight": 70},
                    {"destination": {"host": "podinfo-canary", "port": {"number": 9898}}, "weight": 30},
                ],
                "mirror": {"host": "podinfo-canary", "subset": "canary"},
                "mirrorPercentage": {"value": 12.5},
                "retries": {"attempts": 3, "perTryTimeout": "1s"},  # not declared: must be preserved
            }],
        },
    }
    custom.create_namespaced_custom_object(group, "v1beta1", namespace, "virtualservices", vs)

    as_v1 = custom.get_namespaced_custom_object(group, "v1", namespace, "virtualservices", "podinfo")
    assert as_v1["apiVersion"] == f"{group}/v1"
    http = as_v1["spec"]["http"][0]
    assert [(r["destination"]["host"], r["weight"]) for r in http["route"]] == [
        ("podinfo-primary", 70), ("podinfo-canary", 30)]
    assert http["route"][0]["destination"]["port"] == {"number": 9898}
    assert http["mirror"] == {"host": "podinfo-canary", "subset": "canary"}
    assert http["mirrorPercentage"] == {"value": 12.5}
    assert http["retries"] == {"attempts": 3, "perTryTimeout": "1s"}
    assert http["match"][0]["headers"]["x-canary"] == {"exact": "insider"}
    as_alpha = custom.get_namespaced_custom_object(group, "v1alpha3", namespace, "virtualservices", "podinfo")
    assert as_alpha["spec"]["hosts"] == ["podinfo"]

    for weight, complaint in (("seventy", "must be of type integer"), (150, "less than or equal to 100")):
        route = {"destination": {"host": "x"}, "weight": weight}
        bad = {"apiVersion": f"{group}/v1", "kind": "VirtualService", "metadata": {"name": "bad"},
               "spec": {"hosts": ["x"], "http": [{"route": [route]}]}}
        with pytest.raises(ApiException) as rejected:
            custom.create_namespaced_custom_object(group, "v1", namespace, "virtualservices", bad)
        assert rejected.value.status == 422 and complaint in rejected.value.body

    dr = {
        "apiVersion": f"{group}/v1", "kind": "DestinationRule", "metadata": {"name": "podinfo"},
        "spec": {"host": "podinfo", "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
                 "subsets": [{"name": "primary", "labels": {"app": "podinfo-primary"}}]},
    }
    custom.create_namespaced_custom_object(group, "v1", namespace, "destinationrules", dr)
    stored = custom.get_namespaced_custom_object(group, "v1beta1", namespace, "destinationrules", "podinfo")
    assert stored["spec"] == dr["spec"]

    crds = k8s.ApiextensionsV1Api(kube_api)
    vs_crd = crds.read_custom_resource_definition(f"virtualservices.{group}")
    assert vs_crd.spec.names.short_names == ["vs"] and vs_crd.spec.scope == "Namespaced"
    assert {(v.name, v.served, v.storage) for v in vs_crd.spec.versions} == {
        ("v1beta1", True, True), ("v1", True, False), ("v1alpha3", True, False)}
    assert crds.read_custom_resource_definition(f"destinationrules.{group}").spec.names.short_names == ["dr"]


def test_apiserver_can_be_stopped_and_restarted(
    cluster: Cluster, kube_api: k8s.ApiClient, namespace: str
) -> None:
    core, apps = k8s.CoreV1Api(kube_api), k8s.AppsV1Api(kube_api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "before"}, "data": {"k": "v"}})
    api_url = cluster.api_url
    cluster.stop_apiserver()
    try:
        with pytest.raises(urllib3.exceptions.HTTPError):
            core.read_namespaced_config_map("before", namespace, _request_timeout=5)
        assert set(cluster.pids()) == {"etcd", "kube-controller-manager", "kube-scheduler", "kwok"}
    finally:
        cluster.start_apiserver()
    assert cluster.api_url == api_url and cluster.running
    before = wait_for("configmap readable", lambda: core.read_namespaced_config_map("before", namespace))
    assert before.data == {"k": "v"}
    # Controllers, scheduler and kwok reconnected: a new Deployment still becomes available.
    apps.create_namespaced_deployment(namespace, deployment("after-restart", "example/app:1"))
    wait_for("after-restart available", lambda: rolled_out(apps, "after-restart", namespace, 1, 2))


def version_of(cluster: Cluster, binary: str) -> str:
    argv = [str(cluster.bin_dir / binary), "--version"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def test_binaries_are_the_pinned_versions(cluster: Cluster, kube_api: k8s.ApiClient) -> None:
    for binary in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        out = version_of(cluster, binary)
        assert out.strip() == f"Kubernetes {K8S_VERSION}", binary
    assert k8s.VersionApi(kube_api).get_code().git_version == K8S_VERSION
    assert "etcd Version: 3.6.16" in version_of(cluster, "etcd")


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in "ZX"  # already dead, only waiting for its (re)parent to reap it


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline and not _gone(int(entry.name)):
                found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def test_stop_leaves_no_process_or_port(cluster: Cluster) -> None:
    extra = Cluster(binaries=cluster.bin_dir).start()
    pids, ports, state_dir = extra.pids(), extra.ports, extra.state_dir
    assert ports is not None and len(pids) == 5
    assert not port_is_free(ports.apiserver) and not port_is_free(ports.etcd_client)
    extra.stop()
    assert [name for name, pid in pids.items() if not _gone(pid)] == []
    assert [p for p in ports.all() if not port_is_free(p)] == []
    assert _processes_mentioning(str(state_dir)) == []
    assert not state_dir.exists()
    extra.stop()  # idempotent


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_interrupted_run_leaves_no_process_or_port(
    cluster: Cluster, tmp_path: Path, sig: signal.Signals
) -> None:
    script = textwrap.dedent(f"""
        import json, sys, time
        from tests.testbed.cluster import Cluster
        c = Cluster({str(tmp_path / "state")!r}, binaries={str(cluster.bin_dir)!r}).start()
        print(json.dumps({{"pids": c.pids(), "ports": c.ports.all()}}), flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=repo_root(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
        assert all(not _gone(pid) for pid in started["pids"].values())
        child.send_signal(sig)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode != 0  # the signal still ends the interrupted run
    wait_for("children gone", lambda: all(_gone(pid) for pid in started["pids"].values()), timeout=30)
    assert [p for p in started["ports"] if not port_is_free(p)] == []
    assert _processes_mentioning(str(tmp_path / "state")) == []


def test_component_dying_at_start_is_named_with_its_log(cluster: Cluster, tmp_path: Path) -> None:
    bins = tmp_path / "bin"
    bins.mkdir()
    for name in ("etcd", "kube-controller-manager", "kube-scheduler", "kwok"):
        (bins / name).symlink_to(cluster.bin_dir / name)
    fake = bins / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'E0101 fake apiserver: refusing to start' >&2\nexit 3\n")
    fake.chmod(0o755)
    broken = Cluster(tmp_path / "state", binaries=bins, start_timeout=60)
    with pytest.raises(ComponentError) as failed:
        broken.start()
    message = str(failed.value)
    assert failed.value.component == "kube-apiserver"
    assert "exited with code 3" in message and "refusing to start" in message
    assert broken.pids() == {}  # etcd, already started, was stopped again
    assert _processes_mentioning(str(tmp_path / "state")) == []


def test_bigger_cluster_with_service_account_and_audit_log(cluster: Cluster, tmp_path: Path) -> None:
    """nodes/pods_per_node size the kwok nodes; audit_groups logs those users' requests, one per request."""
    group = "system:serviceaccounts:bench-audit"
    big = Cluster(tmp_path / "state", binaries=cluster.bin_dir, nodes=3, pods_per_node=500,
                  node_cpu="32", component_qps=200, audit_groups=(group,))
    assert cluster.audit_log is None and cluster.nodes == 2  # the defaults: no audit log, two nodes
    with big:
        admin = big.kube_client()
        nodes = k8s.CoreV1Api(admin).list_node(label_selector="type=kwok").items
        assert sorted(n.metadata.name for n in nodes) == ["kwok-node-0", "kwok-node-1", "kwok-node-2"]
        for node in nodes:
            assert node.status.allocatable["pods"] == "500" and node.status.capacity["cpu"] == "32"
        assert "--kube-api-qps=200" in " ".join(big._procs["kube-scheduler"].argv)

        kubeconfig = big.service_account_kubeconfig("bench-audit", "probe")
        from kubernetes import config as k8s_config

        api = k8s_config.new_client_from_config(config_file=str(kubeconfig))
        core = k8s.CoreV1Api(api)
        t0 = time.time()
        for _ in range(3):
            core.list_namespaced_config_map("default")
        core.create_namespaced_config_map("default", {"metadata": {"name": "audited"}})
        watch = core.list_namespaced_config_map("default", watch=True, timeout_seconds=1,
                                                _preload_content=False)
        watch.read()  # one watch, ended by the server after a second
        watch.release_conn()
        k8s.CoreV1Api(admin).list_namespaced_config_map("default")  # admin: not in the group, not logged
        api.close()
        assert big.audit_log is not None

        from tests.testbed.cluster import audit_events

        def logged() -> list[Any] | None:
            events, _ = audit_events(big.audit_log)  # type: ignore[arg-type]
            mine = [e for e in events if e.received >= t0 - 1]
            return mine if len(mine) >= 5 and any(e.verb == "watch" for e in mine) else None

        events = wait_for("5 audited requests", logged, timeout=30)
        assert {e.user for e in events} == {"system:serviceaccount:bench-audit:probe"}
        assert sorted(e.verb for e in events) == ["create", "list", "list", "list", "watch"]
        assert all(e.code in (200, 201) for e in events)
