"""Idempotency across restarts, and Secrets that never reach git: both against the real git server.

A process records a step and is killed (SIGKILL, no cleanup) right after the
commit and before the push, or right after the push; a new process then runs
the same step again. The server ends with the step exactly once, whether the
new process finds the old cache or starts with an empty one.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from gitflagger.adapters.files import load_documents
from gitflagger.adapters.git import ChecksumKey, RemoteConfig, RepoSettings, StepTrailers
from gitflagger.engine.simulate import simulate
from gitflagger.engine.timeline import parse_timeline
from gitflagger.engine.workload import workload_from_documents
from gitflagger.model.hashing import config_checksum
from tests.integration.config_repo_support import credential_files, step_ids, weights_on_server
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.unit.cli.test_simulate_cli import ROOT

pytestmark = pytest.mark.testbed

SCRIPT = "tests.integration.record_step_script"


def run_script(
    urls: RepoUrls, cache: Path, password: Path, number: int, pause: str, image: str = "podinfo:6.0.0"
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", SCRIPT, urls.http, str(cache), str(password), str(number), pause, image],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def kill_at(proc: subprocess.Popen[str], point: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == f"paused {point}\n", (line, proc.stderr.read() if proc.stderr else "")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return out.strip()


@pytest.mark.parametrize("cache", ["same-cache", "fresh-cache"])
@pytest.mark.parametrize("point", ["commit", "push"])
def test_a_step_rerun_after_a_kill_is_recorded_once(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, point: str, cache: str
) -> None:
    files = credential_files(git_server, tmp_path / "creds")
    finish(run_script(git_repo, tmp_path / "cache", files.password, 1, "none"))

    kill_at(run_script(git_repo, tmp_path / "cache", files.password, 2, point), point)
    pushed_before_kill = weights_on_server(git_server, git_repo, "test/podinfo")
    rerun_cache = tmp_path / ("cache" if cache == "same-cache" else "cache-after-restart")
    outcome = finish(run_script(git_repo, rerun_cache, files.password, 2, "none", image="podinfo:6.0.9"))
    finish(run_script(git_repo, rerun_cache, files.password, 3, "none"))

    assert pushed_before_kill == ([10, 20] if point == "push" else [10])
    if point == "push" or cache == "same-cache":
        assert outcome == "done duplicate-step"  # the commit survived the kill: the re-run adds nothing
    else:
        assert outcome.startswith("done ") and len(outcome) == len("done ") + 40  # recorded afresh, once
    assert weights_on_server(git_server, git_repo, "test/podinfo") == [10, 20, 30]
    assert set(step_ids(git_server, git_repo).values()) == {1}


SECRET_VALUE = "correct-horse-battery-staple-7"


def secret_workload() -> list[dict[str, object]]:
    """The tutorial's podinfo, its Deployment mounting a Secret as a volume and as an env var."""
    podinfo = ROOT / "fixtures" / "podinfo"
    docs = load_documents([podinfo / "deployment.yaml", podinfo / "hpa.yaml", podinfo / "canary.yaml"])
    for doc in docs:
        if doc.get("kind") == "Deployment":
            pod = doc["spec"]["template"]["spec"]
            pod["volumes"] = [{"name": "token", "secret": {"secretName": "podinfo-token"}}]
            container = pod["containers"][0]
            container["volumeMounts"] = [{"name": "token", "mountPath": "/etc/token"}]
            container["env"] = [
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "podinfo-token", "key": "token"}}}
            ]
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "podinfo-token", "namespace": "test"},
        "type": "Opaque",
        "data": {"token": base64.b64encode(SECRET_VALUE.encode()).decode()},
    }
    return [*docs, secret]


def all_objects(repo: pygit2.Repository) -> list[bytes]:
    return [repo.odb.read(oid)[1] for oid in repo.odb]


def test_a_secret_mounted_by_the_target_never_reaches_git(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    files = credential_files(git_server, tmp_path / "creds")
    settings = RepoSettings(
        RemoteConfig(
            git_repo.http,
            username=git_server.username,
            password_file=files.password,
            allow_insecure_http=True,
        ),
        cache_root=tmp_path / "cache",
    )
    timeline = parse_timeline(
        [
            {"tick": 0, "metrics": {"request-success-rate": 99.9, "request-duration": 120}},
            {"tick": 1, "image": "ghcr.io/stefanprodan/podinfo:6.0.1"},
        ]
    )
    recorder = settings.recorder()
    ticks = list(simulate(workload_from_documents(secret_workload()), timeline, recorder, max_ticks=12))

    assert ticks[-1].phase == "Succeeded"
    server = pygit2.Repository(str(git_repo.path))
    encoded = base64.b64encode(SECRET_VALUE.encode())
    plain_checksum = config_checksum("secret", {"token": encoded.decode()}, None).split(":")[1].encode()
    forbidden = [SECRET_VALUE.encode(), encoded, base64.b64encode(encoded), plain_checksum]
    for repo in (server, recorder.repo):  # type: ignore[attr-defined]
        contents = all_objects(repo)
        assert len(contents) > 50
        for content in contents:
            assert not any(value in content for value in forbidden)
    canary_yaml = server.revparse_single("main:local/test/podinfo/canary.yaml").data.decode()
    key = ChecksumKey.for_git_dir(recorder.repo.path)  # type: ignore[attr-defined]
    assert f"secret/podinfo-token: {key.seal('sha256:' + plain_checksum.decode())}" in canary_yaml
    assert "secret-podinfo-token-primary: hmac-sha256:" in canary_yaml
    steps = [c for c in server.walk(server.head.target) if StepTrailers.from_message(c.message) is not None]
    assert len(steps) == sum(len(t.commits) for t in ticks)  # every commit message was scanned above


BATCH_SCRIPT = "tests.integration.record_batch_script"


def run_batch(urls: RepoUrls, cache: Path, password: Path, number: int, pause: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", BATCH_SCRIPT, urls.http, str(cache), str(password), str(number), pause],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("cache", ["same-cache", "fresh-cache"])
@pytest.mark.parametrize("point", ["recorded", "persisted"])
def test_a_batch_killed_at_its_boundary_is_recorded_once(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, point: str, cache: str
) -> None:
    files = credential_files(git_server, tmp_path / "creds")
    assert finish(run_batch(git_repo, tmp_path / "cache", files.password, 1, "none")).startswith("done ")

    kill_at(run_batch(git_repo, tmp_path / "cache", files.password, 2, point), point)
    rerun_cache = tmp_path / ("cache" if cache == "same-cache" else "cache-after-restart")
    outcome = finish(run_batch(git_repo, rerun_cache, files.password, 2, "none")).split()
    finish(run_batch(git_repo, rerun_cache, files.password, 3, "none"))

    if point == "persisted" and cache == "same-cache":
        # the batch was durable in the cache: the re-run finds both steps at the head, records neither
        assert outcome[0] == "done" and set(outcome[1:]) <= {"duplicate-step", "unchanged"}
    elif point == "recorded":
        # the batch died in memory: nothing of it anywhere, so both steps are recorded afresh, once
        assert outcome[0] == "done" and all(len(c) == 40 for c in outcome[1:])
    for canary in ("test/podinfo", "test/frontend"):
        assert weights_on_server(git_server, git_repo, canary) == [10, 20, 30]
    ids = step_ids(git_server, git_repo)
    assert len(ids) == 6 and set(ids.values()) == {1}
