"""Recording to the testbed's git server over HTTP and SSH with real credentials, and every way it fails.

Each failure is checked as the user sees it: the exact one line on stderr,
exit code 1, and the server's branch untouched.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitflagger.adapters.git import RemoteConfig
from gitflagger.cli.main import cli
from gitflagger.model.redact import redact_text
from tests.integration.config_repo_support import (
    Files,
    credential_files,
    http_remote,
    recorder,
    server_commits,
    ssh_remote,
)
from tests.testbed.gitserver import GitServer, RepoUrls
from tests.testbed.prometheus import free_port
from tests.unit.cli.test_simulate_cli import PODINFO, TIMELINES
from tests.unit.record.steps import step

pytestmark = pytest.mark.testbed

Remote = Callable[[GitServer, RepoUrls, Files], RemoteConfig]


REMOTES: dict[str, Remote] = {
    "http-basic": http_remote,
    "http-bearer-token": lambda s, u, f: RemoteConfig(u.http, token_file=f.token, allow_insecure_http=True),
    "http-token-as-password": lambda s, u, f: RemoteConfig(
        u.http, username="x-access-token", token_file=f.token, allow_insecure_http=True
    ),
    "http-secret-basic": lambda s, u, f: RemoteConfig(
        u.http,
        secret_data={"username": s.username.encode(), "password": s.password.encode()},
        allow_insecure_http=True,
    ),
    "http-secret-bearer": lambda s, u, f: RemoteConfig(
        u.http, secret_data={"bearerToken": s.token.encode()}, allow_insecure_http=True
    ),
    "ssh-key": lambda s, u, f: ssh_remote(s, u),
    "ssh-key-with-passphrase": lambda s, u, f: RemoteConfig(
        u.ssh,
        ssh_key=s.client_key_passphrase,
        ssh_key_passphrase_file=f.passphrase,
        known_hosts=s.known_hosts,
    ),
    "ssh-secret": lambda s, u, f: RemoteConfig(
        u.ssh, secret_data={"identity": s.client_key.read_bytes(), "known_hosts": s.known_hosts.read_bytes()}
    ),
}


@pytest.mark.parametrize("kind", list(REMOTES))
def test_steps_are_pushed_on_top_of_the_remote_branch(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, kind: str
) -> None:
    remote = REMOTES[kind](git_server, git_repo, credential_files(git_server, tmp_path / "creds"))
    initial = git_server.head(git_repo.path.name)
    writer = recorder(remote, tmp_path / "cache")

    first = writer.record(step(1))
    second = writer.record(step(2, weight=20))
    writer.flush()

    commits = server_commits(git_server, git_repo)
    assert [str(c.id) for c in commits] == [second.commit_id, first.commit_id, initial]
    assert "README.md" in commits[0].tree and "local/test/podinfo/canary.yaml" in commits[0].tree


def test_simulate_records_to_a_remote_and_history_reads_it_back(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path
) -> None:
    files = credential_files(git_server, tmp_path / "creds")
    http = ["--repo", git_repo.http, "--git-username", git_server.username]
    http += [
        "--git-password-file",
        str(files.password),
        "--allow-insecure-http",
        "--repo-cache",
        str(tmp_path / "c1"),
    ]
    ssh = [
        "--repo",
        git_repo.ssh,
        "--ssh-key",
        str(git_server.client_key),
        "--known-hosts",
        str(git_server.known_hosts),
    ]
    ssh += ["--repo-cache", str(tmp_path / "c2")]

    simulated = CliRunner().invoke(
        cli, ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), *http, "-o", "json"]
    )
    history = CliRunner().invoke(cli, ["history", "test/podinfo", *ssh, "-o", "jsonl"])

    assert simulated.exit_code == 0, simulated.output
    assert history.exit_code == 0, history.output
    committed = [line for line in simulated.stdout.splitlines() if '"commit": "' in line]
    assert len(history.stdout.splitlines()) == len(server_commits(git_server, git_repo)) - 1 > 5
    assert len(committed) > 5
    assert '"phase": "Succeeded"' in history.stdout.splitlines()[0]


Failure = Callable[[GitServer, RepoUrls, Files, Path], tuple[list[str], str]]


def _wrong_password(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    args = ["--repo", u.http, "--git-username", s.username, "--git-password-file", str(f.wrong_password)]
    return [
        *args,
        "--allow-insecure-http",
    ], f"git: {u.http} rejected the password from {f.wrong_password} for user 'gitflagger'"


def _wrong_token(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    return (
        ["--repo", u.http, "--git-token-file", str(f.wrong_password), "--allow-insecure-http"],
        f"git: {u.http} rejected the token from {f.wrong_password}",
    )


def _no_credentials(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    return (
        ["--repo", u.http],
        f"git: {u.http} requires authentication; "
        "pass --git-username with --git-password-file, or --git-token-file",
    )


def _unreachable(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    url = f"http://127.0.0.1:{free_port()}/config.git"
    return (
        ["--repo", url, "--git-token-file", str(f.token), "--allow-insecure-http"],
        f"git: cannot reach {url}: failed to connect to 127.0.0.1: Connection refused",
    )


def _host_key(line: str | None) -> Failure:
    def failure(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
        known = tmp / "known_hosts"
        known.write_text(f"{line}\n" if line else "")
        return (
            ["--repo", u.ssh, "--ssh-key", str(s.client_key), "--known-hosts", str(known)],
            f"git: the ssh host key of 127.0.0.1:{s.ssh_port} is not trusted: it is missing from {known} "
            "or does not match it; check the server's key fingerprint and add it there "
            "(or pass --known-hosts)",
        )

    return failure


def _unknown_host_key(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    return _host_key(None)(s, u, f, tmp)


def _changed_host_key(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    return _host_key(s.known_hosts_line(s.other_host_key))(s, u, f, tmp)


def _unauthorized_key(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    return (
        ["--repo", u.ssh, "--ssh-key", str(s.unauthorized_key), "--known-hosts", str(s.known_hosts)],
        f"git: {u.ssh} refused the ssh key {s.unauthorized_key}: the key is not authorized there, "
        "or its passphrase is wrong",
    )


def _wrong_passphrase(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    args = ["--repo", u.ssh, "--ssh-key", str(s.client_key_passphrase), "--known-hosts", str(s.known_hosts)]
    return (
        [*args, "--ssh-key-passphrase-file", str(f.wrong_password)],
        f"git: {u.ssh} refused the ssh key {s.client_key_passphrase}: the key is not authorized there, "
        "or its passphrase is wrong",
    )


def _missing_branch(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    args, _ = _ok_http(s, u, f)
    return [*args, "--branch", "nope"], f"git: {u.http} has no branch 'nope' (it has: main)"


def _http_not_a_repo(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    url = s.http_url("no-such-repo")
    args = ["--repo", url, "--git-token-file", str(f.token), "--allow-insecure-http"]
    return args, f"git: no git repository at {url} (unexpected http status code: 404)"


def _ssh_not_a_repo(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    url = s.ssh_url("no-such-repo")
    path = s.repo_path("no-such-repo")
    return (
        ["--repo", url, "--ssh-key", str(s.client_key), "--known-hosts", str(s.known_hosts)],
        f"git: no git repository at {url} (fatal: '{path}' does not appear to be a git repository)",
    )


def _path_not_a_repo(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    folder = tmp / "not-a-repo"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello")
    return ["--repo", str(folder)], f"{folder}: exists but is not a git repository"


def _insecure_http(s: GitServer, u: RepoUrls, f: Files, tmp: Path) -> tuple[list[str], str]:
    return (
        ["--repo", u.http, "--git-token-file", str(f.token)],
        f"--repo {u.http}: refusing to send credentials over plain http; "
        "use https, or pass --allow-insecure-http",
    )


def _ok_http(s: GitServer, u: RepoUrls, f: Files) -> tuple[list[str], str]:
    return ["--repo", u.http, "--git-token-file", str(f.token), "--allow-insecure-http"], ""


FAILURES: dict[str, Failure] = {
    "wrong-password": _wrong_password,
    "wrong-token": _wrong_token,
    "no-credentials": _no_credentials,
    "unreachable-remote": _unreachable,
    "unknown-host-key": _unknown_host_key,
    "changed-host-key": _changed_host_key,
    "unauthorized-ssh-key": _unauthorized_key,
    "wrong-key-passphrase": _wrong_passphrase,
    "branch-missing": _missing_branch,
    "http-url-not-a-repo": _http_not_a_repo,
    "ssh-url-not-a-repo": _ssh_not_a_repo,
    "path-not-a-repo": _path_not_a_repo,
    "credentials-over-plain-http": _insecure_http,
}


@pytest.mark.parametrize("command", ["history", "simulate"])
@pytest.mark.parametrize("failure", list(FAILURES))
def test_bad_input_is_one_clear_line_and_changes_nothing(
    git_server: GitServer, git_repo: RepoUrls, tmp_path: Path, failure: str, command: str
) -> None:
    files = credential_files(git_server, tmp_path / "creds")
    repo_args, message = FAILURES[failure](git_server, git_repo, files, tmp_path)
    before = git_server.head(git_repo.path.name)
    cache = ["--repo-cache", str(tmp_path / "cache")]
    if command == "history":
        args = ["history", "test/podinfo", *repo_args, *cache]
    else:
        args = ["simulate", *PODINFO, "--timeline", str(TIMELINES / "promote.yaml"), *repo_args, *cache]

    result = CliRunner().invoke(cli, args)

    # The error line is redacted: URL userinfo (here ssh://root@) may be a token, so it is hidden too.
    assert (result.exit_code, result.stderr) == (1, f"error: {redact_text(message)}\n")
    assert result.stdout == ""
    assert git_server.head(git_repo.path.name) == before
    assert files.password.read_text().strip() not in result.output
