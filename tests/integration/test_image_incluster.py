"""The image from `make image` is the in-cluster controller: the seed release, run by it under runc.

The container is what deploy/deployment.yaml asks of the kubelet: uid 65532 from the image itself,
a read-only root, no capabilities, the ServiceAccount's token, CA and namespace at the in-cluster
path with KUBERNETES_SERVICE_HOST/PORT (so the client's in-cluster configuration is what connects;
the testbed's serving certificate holds 127.0.0.1), the git credentials and checksum key at the
Deployment's mount paths, emptyDirs for $HOME and /tmp. Only the network is the host's (loopback).

The scenario is the walkthrough's first two releases (podinfo at a 10s interval, the world
fixture and its checks shared with the other run-loop tests): 6.0.1 is promoted, 6.0.2 rolled
back on its failing success rate. While a step of 6.0.1's push is held by the git server, the
container gets SIGTERM, as at a rolling update: it must exit within the Deployment's grace
period, and a new container finishes the release and runs the next, with every step on the
git server exactly once.
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import http.server
import json
import os
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gitflagger.adapters.git import read_history
from gitflagger.adapters.kube import KubeCluster
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    ROLLBACK,
    assert_one_clean_release,
    kube,
    phase,
    set_image,
    wait_for,
    weight,
    world,
)
from tests.integration.image_support import (
    ARCHIVE,
    ROOT,
    SA_DIR,
    UID,
    Container,
    bind,
    image_config,
    owned_dir,
    probe,
    unpack,
)
from tests.integration.test_deploy_rbac import Installed, admin, installed  # noqa: F401 (fixtures)
from tests.integration.test_walkthrough import quiet
from tests.testbed.cluster import Cluster
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.prometheus import Prometheus, free_port
from tests.unit.deploy.deploy_files import SERVICE_ACCOUNT, docs, one
from tests.unit.deploy.kube_http import KubeHttp

pytestmark = pytest.mark.testbed

GRACE = 60
"""deploy/deployment.yaml's terminationGracePeriodSeconds."""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return unpack(tmp_path_factory.mktemp("image"))


def test_the_image_is_non_root_runs_gitflagger_carries_git_and_fits_150_mib(bundle: Path) -> None:
    process = image_config(bundle)["process"]
    assert process["user"]["uid"] == UID and process["user"]["gid"] == UID
    assert process["args"][0] == "gitflagger"
    assert (bundle / "rootfs" / "usr" / "bin" / "git").exists()
    with tarfile.open(ARCHIVE) as tar:
        def blob(digest: str) -> Any:
            f = tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1])
            assert f is not None
            return json.load(f)
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        manifest = blob(index["manifests"][0]["digest"])
    compressed = sum(layer["size"] for layer in manifest["layers"])
    assert compressed <= 150 * 2**20, f"{compressed / 2**20:.0f} MiB of layers"


def test_the_image_runs_the_load_testers_curl_and_hey(bundle: Path, tmp_path: Path) -> None:
    """`gitflagger loadtester` (charts/loadtester, deploy/loadtester) runs curl and hey from this
    image: both must run in it, as its user, and reach a server (loopback here)."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.headers.get("User-Agent", ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    runs = {
        "curl": ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url],
        "hey": ["hey", "-n", "5", "-c", "1", url],
    }
    out: dict[str, str] = {}
    try:
        for name, command in runs.items():
            c = Container(bundle, tmp_path, f"{tmp_path.name}-{name}"[-60:], [], {}, [], command=command)
            try:
                rc = c.start().wait(120)
            finally:
                c.remove()
            out[name] = c.log.read_text()
            assert rc == 0, out[name]
    finally:
        server.shutdown()
        server.server_close()
    assert out["curl"] == "200", out["curl"]
    assert "[200]\t5 responses" in out["hey"], out["hey"]
    assert [h.split("/")[0] for h in hits] == ["curl", *["hey"] * 5], hits


def test_the_image_carries_the_sources_it_is_tested_for(bundle: Path) -> None:
    """A stale archive (or a stale build cache) would test old code: every module must match."""
    sources = ROOT / "gitflagger"
    site = next((bundle / "rootfs" / "opt" / "gitflagger" / "lib").glob("python3.*")) / "site-packages"
    stale = [str(f.relative_to(ROOT)) for f in sources.rglob("*.py")
             if not (site / f.relative_to(ROOT)).is_file()
             or (site / f.relative_to(ROOT)).read_bytes() != f.read_bytes()]
    assert not stale, f"dist/gitflagger-oci.tar is older than these sources, run `make image`: {stale[:5]}"


def test_the_image_runs_the_seed_release_in_cluster_and_stops_within_the_grace_period(
    cluster: Cluster, kube: KubeCluster, world: str, admin: KubeHttp, installed: Installed,
    prometheus: Prometheus, git_server: GitServer, git_repo: RepoUrls, bundle: Path, tmp_path: Path,
) -> None:
    ns = world
    token = admin.ok(
        "POST", f"/api/v1/namespaces/{installed.namespace}/serviceaccounts/{SERVICE_ACCOUNT}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"expirationSeconds": 3600}},
    )["status"]["token"]
    assert cluster.pki is not None and cluster.ports is not None
    api_port = cluster.ports.apiserver
    ca = Path(cluster.pki.ca.cert).read_bytes()
    sa = owned_dir(tmp_path / "sa", {"token": token.encode(), "ca.crt": ca,
                                     "namespace": installed.namespace.encode()}, 0o444)
    git = owned_dir(tmp_path / "git", {"password": git_server.password.encode() + b"\n"})
    key = owned_dir(tmp_path / "checksum-key", {"key": os.urandom(32)})

    def container(name: str) -> tuple[Container, str]:
        home = tmp_path / f"{name}-home"  # an emptyDir: a new pod clones again
        home.mkdir()
        os.chown(home, UID, UID)
        port = free_port()
        args = [
            "run", "--repo", git_repo.http, "--metrics-server", prometheus.url, "--namespace", ns,
            "--leader-elect", f"--metrics-addr=127.0.0.1:{port}",
            "--git-username", git_server.username, "--git-password-file=/etc/gitflagger/git/password",
            "--allow-insecure-http", "--repo-cache=/var/lib/gitflagger/repos",
            "--checksum-key-file=/etc/gitflagger/checksum-key/key",
        ]
        env = {"HOME": "/var/lib/gitflagger", "POD_NAME": name, "POD_NAMESPACE": installed.namespace,
               "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api_port)}
        mounts = [
            bind(SA_DIR, sa, read_only=True),
            bind("/etc/gitflagger/git", git, read_only=True),
            bind("/etc/gitflagger/checksum-key", key, read_only=True),
            bind("/var/lib/gitflagger", home, read_only=False),
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=128m"]},
        ]
        return Container(bundle, tmp_path, f"{tmp_path.name}-{name}"[-60:], args, env, mounts), f"http://127.0.0.1:{port}"

    # The paths are the Deployment's own: its volumeMounts and the files its args name.
    pod = one(docs("deployment.yaml"), "Deployment", "gitflagger")["spec"]["template"]["spec"]
    shipped = pod["containers"][0]
    ours = container("paths")[0].config["mounts"][-5:]  # the ones added to the image's defaults
    assert {m["mountPath"] for m in shipped["volumeMounts"]} | {SA_DIR} == {m["destination"] for m in ours}
    assert "--checksum-key-file=/etc/gitflagger/checksum-key/key" in shipped["args"]
    assert pod["securityContext"]["runAsUser"] == UID and shipped["securityContext"]["readOnlyRootFilesystem"]

    def ready(c: Container, url: str) -> float:
        def done() -> bool:
            return probe(url + "/readyz") == 200 or c.proc is None or c.proc.poll() is not None
        wait_for("/readyz", done, 180, 0.2)
        assert c.proc is not None and c.proc.poll() is None, c.log.read_text()[-3000:]
        seconds = time.monotonic() - c.started
        assert probe(url + "/healthz") == 200
        return seconds

    first, first_url = container("first")
    second, second_url = container("second")
    try:
        first.start()
        first_ready = ready(first, first_url)
        wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 120)
        set_image(kube, ns, "6.0.1")
        wait_for("the canary at weight 20", lambda: weight(kube, ns) >= 20, 240)
        # The next push is held 5 s by the server: SIGTERM lands while that step is committed
        # locally but not yet on the remote, nor applied.
        in_flight = tmp_path / "push-in-flight"
        hook = git_repo.path / "hooks" / "pre-receive"
        hook.write_text(f"#!/bin/sh\ncat >/dev/null\ntouch {in_flight}\nsleep 5\n")
        hook.chmod(0o755)
        wait_for("a push in flight", in_flight.exists, 120, 0.05)
        term = time.monotonic()
        first.signal("TERM")
        rc = first.wait(GRACE)
        stopped = time.monotonic() - term
        hook.unlink()
        second.start()
        second_ready = ready(second, second_url)
        wait_for("the promotion", lambda: phase(kube, ns) == "Succeeded", 300, 1)
        promoted = time.monotonic()
        # 6.0.2 fails 30% of requests: the same container halts five times on the success rate
        # and rolls back. 6.0.1's canary traffic must leave the 1m window first (as in the
        # walkthrough), or the checks would average both releases.
        quiet(prometheus, ns)
        set_image(kube, ns, "6.0.2")
        wait_for("the rollback", lambda: phase(kube, ns) == "Failed", 300, 1)
        rollback = time.monotonic() - promoted
        second.signal("TERM")
        assert second.wait(GRACE) == 0
    finally:
        first.remove()
        second.remove()
    print(f"\nimage: /readyz {first_ready:.1f}s and {second_ready:.1f}s after start; "
          f"exit {stopped:.1f}s after SIGTERM; 6.0.2 rolled back {rollback:.0f}s after 6.0.1's promotion")
    assert rc == 0, first.log.read_text()[-3000:]
    # The server's own repository: everything was pushed, each step once.
    assert_one_clean_release(git_repo.path, ns, then=ROLLBACK)
    subjects = [h.subject for h in read_history(git_repo.path, f"{ns}/podinfo")]
    c = f"podinfo.{ns}"
    assert sum("halt advancement, success rate" in s for s in subjects) == 5, subjects
    assert subjects[0] == f"{c}: rollback, failed checks threshold reached 5", subjects
    primary = kube.get("apps/v1", "Deployment", ns, "podinfo-primary")
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":6.0.1")
    logs = first.log.read_text() + second.log.read_text()
    assert git_server.password not in logs and token not in logs


def test_without_the_service_account_mount_the_container_stops_with_one_line(
    bundle: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chown(home, UID, UID)
    c = Container(
        bundle, tmp_path, f"{tmp_path.name}-nosa"[-60:], ["run", "--repo", "/var/lib/gitflagger/repo"],
        {"HOME": "/var/lib/gitflagger", "KUBERNETES_SERVICE_HOST": "127.0.0.1",
         "KUBERNETES_SERVICE_PORT": "1"},
        [bind("/var/lib/gitflagger", home, read_only=False)],
    )
    try:
        rc = c.start().wait(120)
    finally:
        c.remove()
    out = c.log.read_text()
    assert rc != 0
    assert out.startswith("error: ") and out.count("\n") == 1, out  # one line, no traceback
    assert "in-cluster" in out or SA_DIR in out, out
    assert "token" in out.lower(), out
