"""Talking to a remote with libgit2: credentials, host keys, fetch, push, and errors a person can act on.

Every network call here goes through :class:`_Callbacks` and :func:`_translate`,
so no ``pygit2.GitError`` leaves this module and every message is one line,
scrubbed of secret values, naming what to change.

**SSH host keys.** libgit2 (1.9, libssh2) checks the server's key itself
against ``<homedir>/.ssh/known_hosts`` and hands the verdict to
``certificate_check`` as ``valid``. ``homedir`` is a process-wide setting
(``pygit2.settings.homedir``), and pygit2's default callback accepts *any*
key. So each SSH operation:

1. takes a process-wide lock (no two SSH operations share the setting; HTTP
   operations do not need it and do not wait);
2. writes the configured known_hosts (``--known-hosts``, the Secret's
   ``known_hosts``, or the user's ``~/.ssh/known_hosts``) into a fresh private
   directory as ``.ssh/known_hosts`` and points ``homedir`` there;
3. runs, with a ``certificate_check`` that returns ``valid`` and turns a
   ``False`` into a clear error (unknown or changed key);
4. restores ``homedir`` and deletes the directory.

The user's own known_hosts is only ever read, never written.

**TLS.** libgit2 (OpenSSL) verifies an ``https://`` server's certificate
and host name itself and hands the verdict to ``certificate_check``; a
``False`` is an error, never overridden. A private CA is added with
:func:`trust_ca_file` (``--git-ca-file``): libgit2's trust store is
process-wide, so the CA is added for every HTTPS remote of the process, on top
of the system's CAs, and stays until the process exits. The CA file is checked
(readable, PEM certificates) before it is handed to libgit2.

**Authentication failures.** libgit2 calls the credentials callback again
after a rejection, until the server gives up ("too many redirects or
authentication replays"). We count: a second call for HTTP means the first
credentials were refused, and we stop there with a message naming where the
credentials came from (never what they are).

**Rejected refs.** A ref refused by the server (a pre-receive hook, a
protected branch) raises nothing in libgit2: ``push_update_reference`` gets a
message, and the hook's own words come through ``sideband_progress``. Both are
collected and returned, so :mod:`gitflagger.adapters.git.publish` can report
them as the error they are.
"""

from __future__ import annotations

import contextlib
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType, FetchPrune

from gitflagger.adapters.git import progress
from gitflagger.adapters.git.remote import Credentials, RemoteConfig, Transport, redact_url
from gitflagger.errors import GitflaggerError, PermanentError, TemporaryError

MAX_SSH_CREDENTIAL_CALLS = 3
"""libssh2 may ask once for the user name and once for the key; more means refusal."""

_HOME_LOCK = threading.Lock()
_CA_LOCK = threading.Lock()
_TRUSTED_CA_FILES: list[str] = []
"""CA bundles added to libgit2's process-wide trust store, for error messages."""
_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"
_NOT_A_REPO = ("404", "does not appear to be a git repository", "repository not found")
_LOCAL_NON_FAST_FORWARD = ("non-fastforwardable", "contains commits that are not present locally")
_UNREACHABLE = (
    "failed to connect",
    "connection refused",
    "could not resolve",
    "failed to resolve",
    "timed out",
    "no route to host",
    "network is unreachable",
)


class _AuthRejected(Exception):
    """Raised inside the credentials callback; libgit2 unwinds, pygit2 re-raises it to us."""


class _HostKeyRejected(Exception):
    """Raised inside ``certificate_check`` for a key known_hosts does not vouch for."""


@dataclass
class PushOutcome:
    """What the server said about a push: per-ref refusals and its sideband output."""

    rejected: dict[str, str] = field(default_factory=dict)
    remote_output: str = ""


class _Callbacks(pygit2.RemoteCallbacks):
    def __init__(self, remote: RemoteConfig, creds: Credentials) -> None:
        super().__init__()
        self.config = remote
        self.creds = creds
        self.calls = 0
        self.rejected: dict[str, str] = {}
        self.output: list[str] = []

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        self.calls += 1
        creds = self.creds
        if self.config.transport is Transport.SSH:
            if self.calls > MAX_SSH_CREDENTIAL_CALLS or not creds.ssh_key:
                raise _AuthRejected()
            user = username_from_url or creds.username or "git"
            if allowed_types & CredentialType.SSH_KEY:
                return pygit2.KeypairFromMemory(
                    user, creds.ssh_public_key, creds.ssh_key, creds.ssh_passphrase or ""
                )
            if allowed_types & CredentialType.USERNAME:
                return pygit2.Username(user)
            raise _AuthRejected()
        if self.calls > 1 or not allowed_types & CredentialType.USERPASS_PLAINTEXT:
            raise _AuthRejected()
        if creds.password is not None and creds.username:
            return pygit2.UserPass(creds.username, creds.password)
        if creds.token and creds.username:
            return pygit2.UserPass(creds.username, creds.token)
        raise _AuthRejected()  # no credentials, or a bearer token the server did not take

    def custom_headers(self) -> list[str] | None:
        if self.creds.token and not self.creds.username:
            return [f"Authorization: Bearer {self.creds.token}"]
        return None

    def certificate_check(self, certificate: object, valid: bool, host: bytes) -> bool:
        if not valid:
            raise _HostKeyRejected(host.decode(errors="replace"))
        return True

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message

    def sideband_progress(self, string: str) -> None:
        self.output.append(string)

    def transfer_progress(self, stats: pygit2.remotes.TransferProgress) -> None:
        progress.report(stats.received_objects, stats.total_objects, stats.received_bytes)


def trust_ca_file(path: Path) -> None:
    """Trust the PEM CA certificates in ``path`` for HTTPS remotes, in addition to the system's.

    The bundle is checked first (readable, at least one PEM certificate, all of
    them parseable by OpenSSL), so a typo is an error naming the file rather
    than an unexplained TLS failure later. Adding the same file twice is a no-op.

    Raises:
        PermanentError: the file cannot be read or holds no usable certificate.
    """
    shown = str(path)
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError as err:
        raise PermanentError(f"git: cannot read the CA file {shown}: {err.strerror or err}") from None
    if _PEM_CERTIFICATE not in text:
        raise PermanentError(
            f"git: the CA file {shown} holds no PEM certificate (expected {_PEM_CERTIFICATE} blocks)"
        )
    try:
        ssl.create_default_context(cadata=text)
    except (ssl.SSLError, ValueError) as err:
        raise PermanentError(f"git: the CA file {shown} holds an unreadable certificate: {err}") from None
    resolved = str(path.resolve())
    with _CA_LOCK:
        if resolved in _TRUSTED_CA_FILES:
            return
        try:
            _load_ca(resolved)
        except pygit2.GitError as err:
            raise PermanentError(f"git: libgit2 cannot use the CA file {shown}: {err}") from None
        _TRUSTED_CA_FILES.append(resolved)


def _load_ca(cert_file: str) -> None:
    """Add ``cert_file`` to libgit2's process-wide TLS trust store (OpenSSL adds; it never replaces)."""
    pygit2.settings.set_ssl_cert_locations(cert_file, None)


def trusted_ca_files() -> tuple[str, ...]:
    """The CA files :func:`trust_ca_file` added to this process's trust store."""
    with _CA_LOCK:
        return tuple(_TRUSTED_CA_FILES)


def list_branches(repo: pygit2.Repository, remote: RemoteConfig) -> list[str]:
    """The branch names ``origin`` has (``main``, …); empty for an empty repository."""
    with _session(remote, "reading the branches of") as cb:
        heads = repo.remotes["origin"].list_heads(callbacks=cb)
    names = [str(h.name) for h in heads]
    return sorted(n.removeprefix("refs/heads/") for n in names if n.startswith("refs/heads/"))


def fetch(repo: pygit2.Repository, remote: RemoteConfig, refspec: str) -> None:
    """Fetch one refspec from ``origin`` into ``repo``, pruning a tracking ref whose branch is gone."""
    with _session(remote, "fetching from") as cb:
        repo.remotes["origin"].fetch([refspec], callbacks=cb, prune=FetchPrune.PRUNE)


def push(repo: pygit2.Repository, remote: RemoteConfig, refspec: str) -> PushOutcome:
    """Push one refspec to ``origin``; refused refs come back in the outcome, not as an exception."""
    destination = refspec.rsplit(":", 1)[-1]
    with _session(remote, "pushing to") as cb:
        try:
            repo.remotes["origin"].push([refspec], callbacks=cb)
        except pygit2.GitError as err:
            # libgit2 compares with the refs the server advertised and refuses a
            # non-fast-forward itself, before sending anything: that is a lost race too.
            if any(marker in str(err) for marker in _LOCAL_NON_FAST_FORWARD):
                return PushOutcome({destination: "non-fast-forward"})
            raise
    return PushOutcome(dict(cb.rejected), scrub("".join(cb.output), cb.creds))


def scrub(text: str, creds: Credentials) -> str:
    """``text`` on one line, with every secret value and URL password replaced by ``***``."""
    for secret in sorted(creds.secrets(), key=len, reverse=True):
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    words = [redact_url(word) for word in text.split()]
    return " ".join(words)


@contextlib.contextmanager
def _session(remote: RemoteConfig, action: str) -> Iterator[_Callbacks]:
    creds = remote.load_credentials()
    cb = _Callbacks(remote, creds)
    try:
        if remote.transport is Transport.SSH:
            with _ssh_home(creds):
                yield cb
        else:
            yield cb
    except GitflaggerError:
        raise
    except (pygit2.GitError, _AuthRejected, _HostKeyRejected, KeyError, ValueError) as err:
        raise _translate(err, remote, creds, action) from None


@contextlib.contextmanager
def _ssh_home(creds: Credentials) -> Iterator[None]:
    """A private ``homedir`` whose ``.ssh/known_hosts`` is the configured one (see the module doc)."""
    with _HOME_LOCK, tempfile.TemporaryDirectory(prefix="gitflagger-ssh-") as home:
        ssh = Path(home) / ".ssh"
        ssh.mkdir(mode=0o700)
        (ssh / "known_hosts").write_text(creds.known_hosts or "")
        previous = pygit2.settings.homedir
        pygit2.settings.homedir = home
        try:
            yield
        finally:
            if previous is not None:
                pygit2.settings.homedir = previous


def _tls_rejected(remote: RemoteConfig) -> str:
    """Why an HTTPS server's certificate was refused, and what to pass to trust it."""
    cas = trusted_ca_files()
    trusted = f"the CA file {', '.join(cas)} or the system's CAs" if cas else "the system's CAs"
    hint = (
        "check that --git-ca-file holds the CA that signed the server's certificate"
        if cas
        else "if the server uses a private CA, pass its certificate with --git-ca-file"
    )
    name = urlsplit(remote.libgit2_url).hostname or remote.host
    return (
        f"git: the TLS certificate of {remote.host} is not trusted ({remote.display}): it is not "
        f"signed by {trusted}, has expired, or does not name {name}; {hint}"
    )


def _translate(err: Exception, remote: RemoteConfig, creds: Credentials, action: str) -> GitflaggerError:
    url = remote.display
    if isinstance(err, _HostKeyRejected | pygit2.CertificateError):
        if remote.transport is not Transport.SSH:
            return PermanentError(_tls_rejected(remote))
        return PermanentError(
            f"git: the ssh host key of {remote.host} is not trusted: it is missing from "
            f"{creds.known_hosts_source or 'known_hosts'} or does not match it; "
            "check the server's key fingerprint and add it there (or pass --known-hosts)"
        )
    if isinstance(err, _AuthRejected | pygit2.AuthError):
        if remote.transport is Transport.SSH:
            return PermanentError(
                f"git: {url} refused the {creds.source or 'ssh key'}: the key is not authorized there, "
                "or its passphrase is wrong"
            )
        if not creds.source:
            return PermanentError(
                f"git: {url} requires authentication; pass --git-username with --git-password-file, "
                "or --git-token-file"
            )
        who = f" for user {creds.username!r}" if creds.username else ""
        return PermanentError(f"git: {url} rejected the {creds.source}{who}")
    text = scrub(str(err), creds)
    lowered = text.lower()
    if "known_hosts" in lowered or "known hosts" in lowered:
        return PermanentError(f"git: cannot use the known_hosts of {creds.known_hosts_source}: {text}")
    if "private key" in lowered or "public key" in lowered:
        return PermanentError(
            f"git: cannot use the {creds.source}: {text} (an encrypted key needs its .pub beside it "
            "and the right --ssh-key-passphrase-file)"
        )
    if any(marker in lowered for marker in _NOT_A_REPO):
        return PermanentError(f"git: no git repository at {url} ({text})")
    if any(marker in lowered for marker in _UNREACHABLE):
        return TemporaryError(f"git: cannot reach {url}: {text}")
    return TemporaryError(f"git: {action} {url} failed: {text}")
