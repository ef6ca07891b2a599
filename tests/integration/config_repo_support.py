"""Shared helpers for the config-repo tests against the testbed's git server (HTTP and SSH)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pygit2

from gitflagger.adapters.git import RemoteConfig, RemoteRecorder, RetryPolicy, StepTrailers
from tests.testbed.gitserver import KEY_PASSPHRASE, GitServer, RepoUrls

FAST_RETRY = RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.2)


@dataclass(frozen=True)
class Files:
    """Credential files as an operator would mount them."""

    password: Path
    wrong_password: Path
    token: Path
    passphrase: Path


def credential_files(server: GitServer, where: Path) -> Files:
    where.mkdir(parents=True, exist_ok=True)
    files = Files(where / "password", where / "wrong-password", where / "token", where / "passphrase")
    files.password.write_text(server.password + "\n")
    files.wrong_password.write_text("not-the-password\n")
    files.token.write_text(server.token + "\n")
    files.passphrase.write_text(KEY_PASSPHRASE + "\n")
    return files


def http_remote(server: GitServer, urls: RepoUrls, files: Files) -> RemoteConfig:
    return RemoteConfig(
        urls.http, username=server.username, password_file=files.password, allow_insecure_http=True
    )


def ssh_remote(server: GitServer, urls: RepoUrls) -> RemoteConfig:
    return RemoteConfig(urls.ssh, ssh_key=server.client_key, known_hosts=server.known_hosts)


def recorder(remote: RemoteConfig, cache: Path, **kwargs: object) -> RemoteRecorder:
    return RemoteRecorder(remote, cache_root=cache, retry=FAST_RETRY, **kwargs)  # type: ignore[arg-type]


def server_commits(server: GitServer, urls: RepoUrls, branch: str = "main") -> list[pygit2.Commit]:
    """The branch's first-parent commits on the server, newest first."""
    repo = pygit2.Repository(str(urls.path))
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        return []
    out: list[pygit2.Commit] = []
    commit: pygit2.Commit | None = ref.peel(pygit2.Commit)
    while commit is not None:
        out.append(commit)
        commit = commit.parents[0] if commit.parents else None
    return out


def step_ids(server: GitServer, urls: RepoUrls) -> Counter[str]:
    """How often each Step-Id occurs on the server's branch: every value must be 1."""
    found: Counter[str] = Counter()
    for commit in server_commits(server, urls):
        trailers = StepTrailers.from_message(commit.message)
        if trailers is not None:
            found[trailers.step_id] += 1
    return found


def weights_on_server(server: GitServer, urls: RepoUrls, canary: str) -> list[int]:
    """The canary weights of one Canary's steps on the server, oldest first."""
    out = []
    for commit in reversed(server_commits(server, urls)):
        trailers = StepTrailers.from_message(commit.message)
        if trailers is not None and trailers.canary == canary:
            out.append(trailers.canary_weight)
    return out
