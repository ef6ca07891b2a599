"""The testbed's git server over smart HTTP and SSH, with the git CLI and with pygit2.

libgit2 (1.9, libssh2 backend) checks an SSH host key against
``<homedir>/.ssh/known_hosts`` (homedir: ``pygit2.settings.homedir``, process-wide)
and hands the verdict to ``certificate_check`` as ``valid``; pygit2 passes
``certificate=None``. The callback must return ``valid``: pygit2's default
(raising ``Passthrough``) accepts any host key, as the last test here shows.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pygit2
import pytest

from tests.testbed.gitserver import KEY_PASSPHRASE, GitServer, RepoUrls

pytestmark = pytest.mark.testbed


class Callbacks(pygit2.RemoteCallbacks):
    """Credentials, strict host-key checking, and a record of what the remote said."""

    def __init__(self, credentials: Any) -> None:
        super().__init__(credentials=credentials)
        self.host_checks: list[bool] = []
        self.ref_messages: dict[str, str | None] = {}
        self.remote_output: list[str] = []

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        self.host_checks.append(valid)
        return valid

    def push_update_reference(self, refname: str, message: str | None) -> None:
        self.ref_messages[refname] = message

    def sideband_progress(self, string: str) -> None:
        self.remote_output.append(string)


@pytest.fixture
def libgit2_home(git_server: GitServer) -> Iterator[Path]:
    """Point libgit2's homedir at a directory whose .ssh/known_hosts trusts the server."""
    before = pygit2.settings.homedir
    pygit2.settings.homedir = str(git_server.ssh_home)
    try:
        yield git_server.ssh_home
    finally:
        if before is not None:
            pygit2.settings.homedir = before


def keypair(server: GitServer, key: Path, passphrase: str = "") -> pygit2.Keypair:
    return pygit2.Keypair(server.ssh_user, f"{key}.pub", str(key), passphrase)


def trust(home: Path, line: str | None) -> Path:
    (home / ".ssh").mkdir(parents=True, exist_ok=True)
    (home / ".ssh" / "known_hosts").write_text(f"{line}\n" if line else "")
    return home


def git(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def cli_commit_and_push(
    url: str, work: Path, env: dict[str, str], message: str = "change"
) -> tuple[str, str]:
    """Clone ``url`` (allowed to fail), commit on top and push; (local head, push stderr)."""
    if git("clone", url, str(work), env=env).returncode != 0:  # bad credentials: push a fresh history
        assert git("init", "-q", "-b", "main", str(work)).returncode == 0
        assert git("remote", "add", "origin", url, cwd=work).returncode == 0
    (work / "file.txt").write_text(message)
    assert git("add", "file.txt", cwd=work).returncode == 0
    assert git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message,
               cwd=work).returncode == 0
    head = git("rev-parse", "HEAD", cwd=work).stdout.strip()
    return head, git("push", "origin", "HEAD:refs/heads/main", cwd=work, env=env).stderr


def pygit2_commit_and_push(url: str, work: Path, callbacks: Callbacks) -> str:
    repo = pygit2.clone_repository(url, str(work), callbacks=callbacks)
    blob = repo.create_blob(b"changed by pygit2\n")
    builder = repo.TreeBuilder(repo.head.peel(pygit2.Commit).tree)
    builder.insert("file.txt", blob, pygit2.enums.FileMode.BLOB)
    sig = pygit2.Signature("t", "t@example.invalid")
    oid = repo.create_commit("refs/heads/main", sig, sig, "pygit2 change", builder.write(),
                             [repo.head.target])
    repo.remotes["origin"].push(["refs/heads/main"], callbacks=callbacks)
    return str(oid)


# ---- git CLI -----------------------------------------------------------------


def test_cli_push_over_http(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    head, err = cli_commit_and_push(git_server.http_url(git_repo.path.name, credentials=True), tmp_path / "w",
                                    git_server.git_env())
    assert git_server.head(git_repo.path.name) == head, err


def test_cli_push_over_http_with_bearer_token(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    env = {**git_server.git_env(), "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
           "GIT_CONFIG_VALUE_0": f"Authorization: Bearer {git_server.token}"}
    head, err = cli_commit_and_push(git_repo.http, tmp_path / "w", env)
    assert git_server.head(git_repo.path.name) == head, err


def test_cli_push_over_ssh(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    head, err = cli_commit_and_push(git_repo.ssh, tmp_path / "w", git_server.git_env())
    assert git_server.head(git_repo.path.name) == head, err


def test_cli_http_wrong_password_is_rejected(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    before = git_server.head(git_repo.path.name)
    url = git_repo.http.replace("http://", f"http://{git_server.username}:wrong@")
    _, err = cli_commit_and_push(url, tmp_path / "w", git_server.git_env())
    assert "Authentication failed" in err
    assert git_server.head(git_repo.path.name) == before


def test_cli_ssh_wrong_key_is_rejected(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    before = git_server.head(git_repo.path.name)
    env = git_server.git_env(key=git_server.unauthorized_key)
    _, err = cli_commit_and_push(git_repo.ssh, tmp_path / "w", env)
    assert "Permission denied (publickey)" in err
    assert git_server.head(git_repo.path.name) == before


def test_cli_ssh_unknown_host_key_is_rejected(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    before = git_server.head(git_repo.path.name)
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    _, err = cli_commit_and_push(git_repo.ssh, tmp_path / "w", git_server.git_env(known_hosts=empty))
    assert "Host key verification failed" in err
    assert git_server.head(git_repo.path.name) == before


def test_cli_pre_receive_hook_rejection(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    name = git_repo.path.name
    before = git_server.head(name)
    git_server.install_rejecting_hook(name, "config repo is frozen")
    _, err = cli_commit_and_push(git_repo.ssh, tmp_path / "w", git_server.git_env())
    assert "remote: config repo is frozen" in err
    assert "pre-receive hook declined" in err
    assert git_server.head(name) == before
    git_server.remove_hook(name)
    pushed = git("push", "origin", "HEAD:refs/heads/main", cwd=tmp_path / "w", env=git_server.git_env())
    assert pushed.returncode == 0, pushed.stderr
    assert git_server.head(name) != before


# ---- pygit2 --------------------------------------------------------------------


def test_pygit2_push_over_http(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    head = pygit2_commit_and_push(git_repo.http, tmp_path / "w",
                                  Callbacks(pygit2.UserPass(git_server.username, git_server.password)))
    assert git_server.head(git_repo.path.name) == head


def test_pygit2_push_over_http_with_token(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    head = pygit2_commit_and_push(git_repo.http, tmp_path / "w",
                                  Callbacks(pygit2.UserPass("x-access-token", git_server.token)))
    assert git_server.head(git_repo.path.name) == head


def test_pygit2_http_wrong_password_fails(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    with pytest.raises(pygit2.GitError, match="authentication replays"):
        pygit2_commit_and_push(git_repo.http, tmp_path / "w",
                               Callbacks(pygit2.UserPass(git_server.username, "wrong")))


@pytest.mark.parametrize("passphrase_key", [False, True])
def test_pygit2_push_over_ssh(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, libgit2_home: Path, passphrase_key: bool
) -> None:
    key = git_server.client_key_passphrase if passphrase_key else git_server.client_key
    cb = Callbacks(keypair(git_server, key, KEY_PASSPHRASE if passphrase_key else ""))
    head = pygit2_commit_and_push(git_repo.ssh, tmp_path / "w", cb)
    assert git_server.head(git_repo.path.name) == head
    assert cb.host_checks and all(cb.host_checks)  # libgit2 found the key in known_hosts


@pytest.mark.parametrize("key_name", ["unauthorized_key", "wrong_passphrase"])
def test_pygit2_ssh_bad_key_fails(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, libgit2_home: Path, key_name: str
) -> None:
    if key_name == "unauthorized_key":
        key, passphrase = git_server.unauthorized_key, ""
    else:
        key, passphrase = git_server.client_key_passphrase, "not the passphrase"
    with pytest.raises(pygit2.AuthError, match="rejected authentication"):
        pygit2_commit_and_push(git_repo.ssh, tmp_path / "w", Callbacks(keypair(git_server, key, passphrase)))


@pytest.mark.parametrize("known", ["unknown", "other_key"])
def test_pygit2_ssh_untrusted_host_key_fails(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, libgit2_home: Path, known: str
) -> None:
    line = git_server.known_hosts_line(git_server.other_host_key) if known == "other_key" else None
    pygit2.settings.homedir = str(trust(tmp_path / "home", line))
    cb = Callbacks(keypair(git_server, git_server.client_key))
    with pytest.raises(pygit2.CertificateError, match="invalid or unknown remote ssh hostkey"):
        pygit2_commit_and_push(git_repo.ssh, tmp_path / "w", cb)
    assert cb.host_checks == [False]


def test_pygit2_pre_receive_hook_rejection(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, libgit2_home: Path
) -> None:
    name = git_repo.path.name
    before = git_server.head(name)
    git_server.install_rejecting_hook(name, "config repo is frozen")
    cb = Callbacks(pygit2.UserPass(git_server.username, git_server.password))
    pygit2_commit_and_push(git_repo.http, tmp_path / "w", cb)  # a rejected ref does not raise
    assert cb.ref_messages == {"refs/heads/main": "pre-receive hook declined"}
    assert "config repo is frozen" in "".join(cb.remote_output)
    assert git_server.head(name) == before


def test_server_restart_keeps_urls(git_server: GitServer, git_repo: RepoUrls, tmp_path: Path) -> None:
    git_server.stop()
    try:
        cb = Callbacks(pygit2.UserPass(git_server.username, git_server.password))
        with pytest.raises(pygit2.GitError):
            pygit2.clone_repository(git_repo.http, str(tmp_path / "down"), callbacks=cb)
    finally:
        git_server.start()
    head, err = cli_commit_and_push(git_repo.ssh, tmp_path / "w", git_server.git_env())
    assert git_server.head(git_repo.path.name) == head, err


def test_pygit2_default_callbacks_accept_any_ssh_host_key(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, libgit2_home: Path
) -> None:
    """The pitfall: without a certificate_check override, pygit2 trusts any SSH host key."""
    pygit2.settings.homedir = str(trust(tmp_path / "home", None))
    creds = keypair(git_server, git_server.client_key)
    repo = pygit2.clone_repository(git_repo.ssh, str(tmp_path / "w"), callbacks=pygit2.RemoteCallbacks(creds))
    assert str(repo.head.target) == git_server.head(git_repo.path.name)
