"""The config repo over HTTPS with a private CA: trusted with --git-ca-file, refused without it.

The testbed git server serves HTTPS with a certificate signed by a CA it
generated. Each case runs ``gitflagger`` in its own process, because libgit2's
trust store is process-wide and a CA, once added, stays for the life of the
process: a later "without the CA" check in the same process would prove nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.config_repo_support import credential_files, server_commits
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES

pytestmark = pytest.mark.testbed

GITFLAGGER = str(Path(sys.executable).with_name("gitflagger"))


def _gitflagger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "GITFLAGGER_GIT_CA_FILE"}
    return subprocess.run(
        [GITFLAGGER, *args], capture_output=True, text=True, timeout=300, env={**base, **(env or {})},
        check=False,
    )


def _simulate(server: GitServer, urls: RepoUrls, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    files = credential_files(server, tmp / "creds")
    return _gitflagger(
        "simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), "-o", "json",
        "--repo", urls.https, "--git-username", server.username, "--git-password-file", str(files.password),
        "--repo-cache", str(tmp / "cache"), *extra,
    )


@pytest.fixture
def https_server(git_server: GitServer) -> GitServer:
    git_server.start_https()
    return git_server


def test_push_over_https_with_the_ca(https_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    before = len(server_commits(https_server, git_repo))
    pushed = _simulate(https_server, git_repo, tmp_path, "--git-ca-file", str(https_server.tls.ca))
    assert pushed.returncode == 0, pushed.stderr
    commits = server_commits(https_server, git_repo)
    assert len(commits) > before + 5
    assert "local/test/podinfo/canary.yaml" in commits[0].tree

    # The same CA from the environment, for a reader in another process.
    history = _gitflagger(
        "history", "test/podinfo", "--repo", git_repo.https, "--git-username", https_server.username,
        "--git-password-file", str(tmp_path / "creds" / "password"), "--repo-cache", str(tmp_path / "c2"),
        "-o", "jsonl", env={"GITFLAGGER_GIT_CA_FILE": str(https_server.tls.ca)},
    )
    assert history.returncode == 0, history.stderr
    assert '"phase": "Succeeded"' in history.stdout.splitlines()[0]


def test_without_the_ca_the_server_is_not_trusted(
    https_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    head = https_server.head(git_repo.path.name)
    refused = _simulate(https_server, git_repo, tmp_path)
    host = f"127.0.0.1:{https_server.https_port}"
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: git: the TLS certificate of {host} is not trusted ({git_repo.https}): it is not signed "
        "by the system's CAs, has expired, or does not name 127.0.0.1; if the server uses a private CA, "
        "pass its certificate with --git-ca-file"
    ]
    assert https_server.password not in refused.stderr + refused.stdout
    assert https_server.head(git_repo.path.name) == head


def test_the_wrong_ca_is_refused_too(https_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    head = https_server.head(git_repo.path.name)
    wrong = https_server.tls.other_ca
    refused = _simulate(https_server, git_repo, tmp_path, "--git-ca-file", str(wrong))
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert f"is not trusted ({git_repo.https}): it is not signed by the CA file {wrong.resolve()}" in line
    assert "check that --git-ca-file holds the CA that signed the server's certificate" in line
    assert https_server.head(git_repo.path.name) == head


@pytest.mark.parametrize("content", [None, "not a certificate\n", "-----BEGIN CERTIFICATE-----\nAAAA\n"])
def test_an_unusable_ca_file_is_an_error_before_any_connection(
    https_server: GitServer, git_repo: RepoUrls, tmp_path: Path, content: str | None
) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    refused = _simulate(https_server, git_repo, tmp_path, "--git-ca-file", str(ca))
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    expected = {
        None: f"error: git: cannot read the CA file {ca}: No such file or directory",
        "not a certificate\n": f"error: git: the CA file {ca} holds no PEM certificate",
    }.get(content, f"error: git: the CA file {ca} holds an unreadable certificate")
    assert line.startswith(expected)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_the_testbed_https_listener_works_for_the_git_cli(
    https_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    """The server side on its own: git's own client trusts it with the CA and refuses it without."""
    url = git_repo.https.replace("https://", f"https://{https_server.username}:{https_server.password}@")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_SSL_CAINFO": str(https_server.tls.ca)}
    cloned = subprocess.run(["git", "clone", "-q", url, str(tmp_path / "a")], env=env,
                            capture_output=True, text=True, check=False, timeout=120)
    assert cloned.returncode == 0, cloned.stderr
    assert (tmp_path / "a" / "README.md").exists()
    env["GIT_SSL_CAINFO"] = str(https_server.tls.other_ca)
    refused = subprocess.run(["git", "clone", "-q", url, str(tmp_path / "b")], env=env,
                             capture_output=True, text=True, check=False, timeout=120)
    assert refused.returncode != 0
    assert "certificate" in refused.stderr.lower()
