"""One random secret, put everywhere people put secrets, found nowhere gitflagger writes.

A release of podinfo runs under ``gitflagger run`` (deploy/'s RBAC, pushing over
HTTP to the testbed's git server) while one random value is:

- the git credential the controller pushes with (``--git-token-file``);
- in the target's mounted Secret (so its ``-primary`` copy is made and checksummed);
- in the Canary: an annotation, kubectl's last-applied copy of the whole object,
  webhook URLs (``user:VALUE@`` and ``?token=VALUE``) and webhook ``metadata``
  (``token: VALUE`` and a ``cmd`` with ``Authorization: Bearer VALUE``, ``-u``,
  ``?api_key=VALUE``), which the real load tester runs;
- in the answer of a second rollout webhook that fails once, quoting the value (as a
  proxy echoing the request might): that answer becomes a Warning Event, a commit
  message line and a log line, each of which must be redacted by the controller.

Then every object of the remote repository (all blobs, trees and commits, however
packed), every commit message on the branch, every line the controller and the
load tester logged, every Event of the namespace and the Canary's status are
searched for the value, plainly and base64-encoded. It must be in none of them,
while the live Canary and the Secret copy still hold it (redaction changes only
what is written down, never what is applied or sent).
"""

# ruff: noqa: F811 -- pytest fixtures are imported from controller_support and named as parameters
from __future__ import annotations

import base64
import io
import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from gitflagger.adapters.kube import KubeCluster
from gitflagger.loadtester.api import LoadTester, LoadTesterConfig
from gitflagger.loadtester.logs import LOGGER_NAME, JsonFormatter
from gitflagger.loadtester.server import LoadTesterServer
from tests.integration.controller_support import (  # noqa: F401 (fixtures)
    ControllerProcess,
    app_namespace,
    canary,
    create,
    kube,
    phase,
    podinfo,
    sa_kubeconfig,
    set_image,
    wait_for,
)
from tests.integration.test_deploy_rbac import admin, installed  # noqa: F401 (fixtures)
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.meshsim import MeshSim
from tests.testbed.prometheus import Prometheus
from tests.unit.adapters.loopback import LoopbackServer, Reply

pytestmark = pytest.mark.testbed

VALUE = f"gfSCAN{secrets.token_hex(12)}"
NEEDLES = (VALUE.encode(), base64.b64encode(VALUE.encode()), base64.b64encode(VALUE.encode())[:-4])
"""The value as text and base64 (also without its padding block, as inside a longer encoded string)."""


def _found(data: bytes | str) -> bool:
    raw = data.encode() if isinstance(data, str) else data
    return any(needle in raw for needle in NEEDLES)


def _where(data: bytes) -> str:
    """The text around the first match, so a failure says which field leaked."""
    at = min((i for n in NEEDLES if (i := data.find(n)) >= 0), default=0)
    return data[max(0, at - 120): at + 40].decode(errors="replace")


@pytest.fixture
def load_tester() -> Iterator[tuple[LoadTesterServer, io.StringIO]]:
    """gitflagger's load tester, logging JSON lines at debug level (access lines included) to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    server = LoadTesterServer(LoadTester(LoadTesterConfig()), host="127.0.0.1", port=0)
    server.start()
    try:
        yield server, stream
    finally:
        server.stop(grace=3)
        logger.removeHandler(handler)
        logger.setLevel(level)


def _objects(ns: str, lt: str, echo: str) -> list[dict[str, Any]]:
    """podinfo with a mounted Secret and a Canary (one 50% step) carrying the value in every usual place."""
    objects = podinfo(ns, lt + "/", interval="10s")
    host = lt.removeprefix("http://")
    for obj in objects:
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]["spec"]
            pod["volumes"] = [{"name": "api", "secret": {"secretName": "podinfo-api"}}]
            mount = {"name": "api", "mountPath": "/etc/api", "readOnly": True}
            pod["containers"][0]["volumeMounts"] = [mount]
        if obj["kind"] == "Canary":
            analysis = obj["spec"]["canaryAnalysis"]
            analysis.update(stepWeight=50, maxWeight=50)
            analysis["webhooks"] = [
                {"name": "load-test", "url": f"http://lt:{VALUE}@{host}/?token={VALUE}", "timeout": "5s",
                 "metadata": {
                     "token": VALUE,
                     "cmd": f"curl -s -H 'Authorization: Bearer {VALUE}' -u ops:{VALUE} "
                            f"'{lt}/healthz?api_key={VALUE}'"}},
                {"name": "smoke", "url": f"{echo}/smoke", "timeout": "5s"},
            ]
            annotations = {"example.com/api-token": VALUE}
            obj["metadata"]["annotations"] = {
                **annotations, "kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj)}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "podinfo-api", "namespace": ns},
              "stringData": {"token": VALUE}}
    return [secret, *objects]


def _remote_leaks(repo_path: Path) -> list[str]:
    """Every object of the repository (loose and packed) and every commit message that holds the value."""
    repo = pygit2.Repository(str(repo_path))
    leaks = []
    count = 0
    for oid in repo.odb:
        count += 1
        kind, data = repo.odb.read(oid)
        if _found(data):
            leaks.append(f"object {oid} (type {kind}): ...{_where(data)}")
    head = repo.references["refs/heads/main"].target
    commits = list(repo.walk(head))
    leaks += [f"commit message of {c.id}" for c in commits if _found(c.message)]
    assert count > len(commits) > 3, "the scan saw the repository's objects"
    for path in repo_path.rglob("*"):  # config, refs, logs: plain files besides the objects
        if path.is_file() and "objects" not in path.parts and _found(path.read_bytes()):
            leaks.append(str(path.relative_to(repo_path)))
    return leaks


def test_one_secret_value_reaches_no_commit_blob_log_or_event(
    kube: KubeCluster, kube_api: Any, namespace: str, sa_kubeconfig: Path, meshsim: MeshSim,
    prometheus: Prometheus, git_server: GitServer, git_repo: RepoUrls,
    load_tester: tuple[LoadTesterServer, io.StringIO], tmp_path: Path,
) -> None:
    lt, lt_log = load_tester
    echo = LoopbackServer().__enter__()
    echo.script(Reply(500, f"denied: Authorization: Bearer {VALUE} for /x?token={VALUE}"), Reply(200))
    token_file = tmp_path / "git-token"
    token_file.write_text(VALUE + "\n")
    log = tmp_path / "controller.log"
    original_token = git_server.token
    git_server.token = VALUE  # the git server now accepts only this value as the token
    try:
        with app_namespace(kube_api, namespace) as ns:
            for obj in _objects(ns, lt.url, echo.url):
                create(kube, obj)
            controller = ControllerProcess(
                sa_kubeconfig, git_repo.http, prometheus.url, ns, log,
                "--git-username", "bot", "--git-token-file", str(token_file), "--allow-insecure-http",
                "--repo-cache", str(tmp_path / "cache"),
            ).start()
            try:
                wait_for("initialization", lambda: phase(kube, ns) == "Initialized", 180, 1)
                set_image(kube, ns, "6.0.1")
                wait_for("the promotion", lambda: phase(kube, ns) == "Succeeded", 300, 1)
            finally:
                controller.stop()
            events = kube.list_objects("v1", "Event", ns)
            live = canary(kube, ns)
            primary_secret = kube.get("v1", "Secret", ns, "podinfo-api-primary")
    finally:
        git_server.token = original_token
        echo.__exit__(None, None, None)

    # What is applied and sent keeps the value: the scan below is not vacuous.
    assert VALUE in json.dumps(live["spec"])
    assert primary_secret is not None
    assert base64.b64decode(primary_secret["data"]["token"]).decode() == VALUE
    assert (lt.app.metrics.registry.get_sample_value(
        "gitflagger_loadtester_tasks_started_total", {"type": "cmd"}) or 0) >= 1, "the load test ran"
    assert any("/healthz?api_key=" in line for line in lt_log.getvalue().splitlines()), "curl reached it"
    assert any("external check smoke failed" in str(e.get("message")) for e in events), "the hook failed"

    controller_lines = log.read_text().splitlines()
    status = json.dumps(live.get("status") or {})
    assert len(controller_lines) > 10 and len(events) > 3
    leaks = {
        "remote repository": _remote_leaks(git_repo.path),
        "controller log": [line for line in controller_lines if _found(line)],
        "load tester log": [line for line in lt_log.getvalue().splitlines() if _found(line)],
        "events": [str(e.get("message")) for e in events if _found(json.dumps(e))],
        "canary status": [status] if _found(status) else [],
    }
    counts = {where: len(found) for where, found in leaks.items()}
    assert leaks == {where: [] for where in leaks}, f"leaks by place: {counts}"
