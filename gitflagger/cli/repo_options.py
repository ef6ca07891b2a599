"""The ``--repo`` option set, shared by every command that touches the config repo.

``@repo_options()`` adds ``--repo``, ``--branch``, ``--repo-prefix``, the
credential options and ``--repo-cache``, and hands the command a single
``repo: RepoSettings`` argument instead of a dozen loose ones, so ``history``,
``simulate``, ``run`` and ``reconcile`` accept exactly the same spelling.
``@repo_options(writes=True)`` adds what only writers need: ``--sign-commits``
and ``--checksum-key-file``.

The options name *files* holding credentials, never the credentials: a value
on a command line ends up in ``ps`` output and shell history. ``--git-ca-file``
(or ``$GITFLAGGER_GIT_CA_FILE``) adds a private CA for ``https://`` remotes; TLS
verification itself can never be turned off.

Each option can also come from the environment (``GITFLAGGER_REPO``,
``GITFLAGGER_REPO_PREFIX``, ``GITFLAGGER_GIT_TOKEN_FILE``, …, listed by
``--help``), so a shell or CI job sets the repo once; a flag wins over its variable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from gitflagger.adapters.git import (
    DEFAULT_BRANCH,
    DEFAULT_PREFIX,
    ChecksumKey,
    RemoteConfig,
    RepoSettings,
    parse_signer,
)
from gitflagger.adapters.git.transport import trust_ca_file
from gitflagger.cli.progress import show_transfer_progress

F = TypeVar("F", bound=Callable[..., Any])

_FILE = click.Path(dir_okay=False, path_type=Path)
_NAMES = (
    "repo_url",
    "branch",
    "repo_prefix",
    "git_username",
    "git_password_file",
    "git_token_file",
    "ssh_key",
    "ssh_key_passphrase_file",
    "known_hosts",
    "allow_insecure_http",
    "git_ca_file",
    "repo_cache",
    "sign_commits",
    "checksum_key_file",
)

REPO_EPILOG = """\b
Config repo (--repo):
  ./config.git, file:///srv/config.git     a local repository (created bare when missing)
  https://git.example.com/org/config.git   --git-username + --git-password-file, or --git-token-file
                                           [--git-ca-file] for a private CA
  ssh://git@git.example.com/org/config.git --ssh-key [--ssh-key-passphrase-file] [--known-hosts]
  git@git.example.com:org/config.git       the same, scp form
"""


def repo_options(*, writes: bool = False, help_repo: str = "") -> Callable[[F], F]:
    """Add the option set to a click command; the command receives ``repo: RepoSettings``."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            show_transfer_progress()
            values = {name: kwargs.pop(name, None) for name in _NAMES}
            kwargs["repo"] = _settings(values)
            return command(*args, **kwargs)

        options = [
            click.option(
                "--repo",
                "repo_url",
                required=True,
                envvar="GITFLAGGER_REPO",
                show_envvar=True,
                metavar="URL|PATH",
                help=help_repo or "The config repo: a path, file://, https:// or ssh:// URL.",
            ),
            click.option(
                "--branch",
                default=DEFAULT_BRANCH,
                show_default=True,
                envvar="GITFLAGGER_BRANCH",
                show_envvar=True,
                help="The config branch.",
            ),
            click.option(
                "--repo-prefix",
                default=DEFAULT_PREFIX,
                show_default=True,
                envvar="GITFLAGGER_REPO_PREFIX",
                show_envvar=True,
                help="This cluster's directory in the repo: <prefix>/<namespace>/<canary>/.",
            ),
            click.option(
                "--git-username",
                envvar="GITFLAGGER_GIT_USERNAME",
                show_envvar=True,
                help="HTTPS user name (with --git-password-file or a token).",
            ),
            click.option(
                "--git-password-file",
                type=_FILE,
                envvar="GITFLAGGER_GIT_PASSWORD_FILE",
                show_envvar=True,
                help="File holding the HTTPS password.",
            ),
            click.option(
                "--git-token-file",
                type=_FILE,
                envvar="GITFLAGGER_GIT_TOKEN_FILE",
                show_envvar=True,
                help="File holding an HTTPS token: a Bearer token, or the password of --git-username.",
            ),
            click.option(
                "--ssh-key", type=_FILE, envvar="GITFLAGGER_SSH_KEY", show_envvar=True,
                help="Private key for ssh:// URLs.",
            ),
            click.option("--ssh-key-passphrase-file", type=_FILE, envvar="GITFLAGGER_SSH_KEY_PASSPHRASE_FILE",
                         show_envvar=True, help="File holding the key's passphrase."),
            click.option(
                "--known-hosts",
                type=_FILE,
                envvar="GITFLAGGER_KNOWN_HOSTS",
                show_envvar=True,
                help="Trusted SSH host keys.  [default: ~/.ssh/known_hosts]",
            ),
            click.option(
                "--git-ca-file",
                type=_FILE,
                envvar="GITFLAGGER_GIT_CA_FILE",
                show_envvar=True,
                help="PEM CA certificates to trust for https:// remotes, besides the system's.",
            ),
            click.option(
                "--allow-insecure-http",
                is_flag=True,
                help="Allow credentials over plain http:// (tests and loopback only).",
            ),
            click.option(
                "--repo-cache",
                type=click.Path(file_okay=False, path_type=Path),
                help="Where remote repos are cloned.  [default: ~/.cache/gitflagger/repos]",
            ),
        ]
        if writes:
            options += [
                click.option(
                    "--sign-commits",
                    metavar="ssh:KEYFILE|gpg:KEYID",
                    help="Sign every commit with this SSH or GPG key.",
                ),
                click.option(
                    "--checksum-key-file",
                    type=_FILE,
                    help="Key sealing Secret checksums (HMAC).  [default: one kept in the repo's git dir]",
                ),
            ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def _settings(values: dict[str, Any]) -> RepoSettings:
    ca_file = values["git_ca_file"]
    if ca_file is not None:
        trust_ca_file(ca_file)  # libgit2's trust store is process-wide
    remote = RemoteConfig(
        url=values["repo_url"],
        username=values["git_username"],
        password_file=values["git_password_file"],
        token_file=values["git_token_file"],
        ssh_key=values["ssh_key"],
        ssh_key_passphrase_file=values["ssh_key_passphrase_file"],
        known_hosts=values["known_hosts"],
        allow_insecure_http=bool(values["allow_insecure_http"]),
    )
    key_file = values["checksum_key_file"]
    signer = values["sign_commits"]
    return RepoSettings(
        remote=remote,
        branch=values["branch"],
        prefix=values["repo_prefix"],
        cache_root=values["repo_cache"],
        signer=parse_signer(signer) if signer else None,
        checksum_key=ChecksumKey.from_file(key_file) if key_file else None,
    )
