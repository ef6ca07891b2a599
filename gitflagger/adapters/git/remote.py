"""Where the config repo lives and how to authenticate to it: :class:`RemoteConfig`.

``--repo`` takes a local path (or ``file://`` URL, the same thing), an
``http(s)://`` URL or an SSH URL (``ssh://[user@]host[:port]/path`` or the
scp form ``user@host:path``). Credentials come from files or from a
Kubernetes Secret's data, never from the URL:

========================  =======================================================
HTTPS, basic auth         ``--git-username`` + ``--git-password-file``
HTTPS, token              ``--git-token-file``: sent as ``Authorization: Bearer``;
                          with ``--git-username`` it is the basic-auth password
                          instead (GitHub's ``x-access-token``, GitLab's ``oauth2``)
SSH                       ``--ssh-key`` [+ ``--ssh-key-passphrase-file``] and
                          ``--known-hosts`` (default ``~/.ssh/known_hosts``)
Kubernetes Secret         Flux's GitRepository keys: ``username``, ``password``,
                          ``bearerToken``; ``identity``, ``known_hosts`` and
                          ``password`` (the key's passphrase) for SSH
========================  =======================================================

Files win over Secret keys. Files are read at each connection, so a rotated
credential is picked up without a restart. Credentials never travel over plain
``http://`` unless ``allow_insecure_http`` says so. Nothing here logs, and no
repr shows a secret value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gitflagger.errors import PermanentError

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>(?!//).+)$")
SECRET_KEYS = frozenset({"username", "password", "bearerToken", "identity", "identity.pub", "known_hosts"})


class Transport(StrEnum):
    LOCAL = "local"
    HTTP = "http"
    HTTPS = "https"
    SSH = "ssh"


@dataclass(frozen=True)
class Credentials:
    """What one connection authenticates with; loaded fresh for each connection, never shown."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    ssh_key: str | None = field(default=None, repr=False)
    """The private key's text."""
    ssh_passphrase: str | None = field(default=None, repr=False)
    ssh_public_key: str | None = None
    """The public half (``KEY.pub``, the Secret's ``identity.pub``): libssh2 needs it for an encrypted key."""
    known_hosts: str | None = None
    known_hosts_source: str = ""
    """Where ``known_hosts`` came from, for error messages."""
    source: str = ""
    """Where the secret came from (``password from /run/git/password``), for error messages."""

    def secrets(self) -> list[str]:
        """Every secret value, for scrubbing error texts."""
        values = [v for v in (self.password, self.token, self.ssh_passphrase, self.ssh_key) if v]
        return values + [base64.b64encode(v.encode()).decode() for v in values]


@dataclass(frozen=True)
class RemoteConfig:
    """The ``--repo`` option set. :meth:`check` before use; credentials load at each connection."""

    url: str
    username: str | None = None
    password_file: Path | None = None
    token_file: Path | None = None
    ssh_key: Path | None = None
    ssh_key_passphrase_file: Path | None = None
    known_hosts: Path | None = None
    allow_insecure_http: bool = False
    secret_data: Mapping[str, str | bytes] | None = field(default=None, repr=False, compare=False)
    """A Kubernetes Secret's data, *decoded* (see :func:`decode_secret_bytes`)."""

    @property
    def transport(self) -> Transport:
        scheme = _scheme(self.url)
        if scheme in ("http", "https"):
            return Transport(scheme)
        if scheme in ("ssh", "git+ssh", "ssh+git") or (scheme is None and _scp(self.url)):
            return Transport.SSH
        if scheme in (None, "file"):
            return Transport.LOCAL
        raise PermanentError(
            f"--repo {self.display}: unsupported URL scheme {scheme!r} (use https, ssh or a path)"
        )

    @property
    def is_remote(self) -> bool:
        return self.transport is not Transport.LOCAL

    @property
    def display(self) -> str:
        """The URL for messages: any ``user:password@`` replaced, so even a refused URL never leaks."""
        return redact_url(self.url)

    @property
    def local_path(self) -> Path:
        """The path of a local repo (``file://`` stripped)."""
        if _scheme(self.url) == "file":
            parts = urlsplit(self.url)
            if parts.netloc not in ("", "localhost"):
                raise PermanentError(f"--repo {self.display}: a file:// URL must not name a host")
            return Path(unquote(parts.path))
        return Path(self.url).expanduser()

    @property
    def libgit2_url(self) -> str:
        """The URL handed to libgit2 (``git+ssh://`` spelled ``ssh://``)."""
        for alias in ("git+ssh://", "ssh+git://"):
            if self.url.startswith(alias):
                return "ssh://" + self.url[len(alias) :]
        return self.url

    @property
    def host(self) -> str:
        """``host`` or ``host:port``, for messages about the server."""
        if _scheme(self.url):
            parts = urlsplit(self.libgit2_url)
            return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
        match = _scp(self.url)
        return match.group("host") if match else ""

    def check(self) -> None:
        """Refuse what could leak a credential or can never work, before any connection."""
        transport = self.transport
        has_secret = self._secret_keys()
        http_auth = bool(self.password_file or self.token_file or has_secret & {"password", "bearerToken"})
        ssh_auth = bool(self.ssh_key or self.ssh_key_passphrase_file or self.known_hosts)
        if transport is Transport.LOCAL:
            if http_auth or ssh_auth or self.username:
                raise PermanentError(f"--repo {self.display}: a local repo takes no credentials")
            return
        if transport in (Transport.HTTP, Transport.HTTPS):
            parts = urlsplit(self.url)
            if parts.username is not None or parts.password is not None:
                raise PermanentError(
                    f"--repo {self.display}: credentials in the URL are not allowed; "
                    "use --git-username with --git-password-file, or --git-token-file"
                )
            if ssh_auth:
                raise PermanentError(
                    f"--repo {self.display}: --ssh-key and --known-hosts apply to ssh URLs only"
                )
            if self.password_file and self.token_file:
                raise PermanentError("--git-password-file and --git-token-file: choose one")
            if self.password_file and not self.username:
                raise PermanentError("--git-password-file needs --git-username")
            if transport is Transport.HTTP and (http_auth or self.username) and not self.allow_insecure_http:
                raise PermanentError(
                    f"--repo {self.display}: refusing to send credentials over plain http; "
                    "use https, or pass --allow-insecure-http"
                )
            return
        if _scheme(self.url) and urlsplit(self.libgit2_url).password is not None:
            raise PermanentError(
                f"--repo {self.display}: credentials in the URL are not allowed; use --ssh-key"
            )
        if self.password_file or self.token_file:
            raise PermanentError(
                f"--repo {self.display}: ssh authenticates with --ssh-key, not a password or token"
            )
        if not self.ssh_key and "identity" not in has_secret:
            raise PermanentError(f"--repo {self.display}: an ssh URL needs --ssh-key")

    def ssh_username(self) -> str:
        """The SSH login: from the URL, else ``--git-username``, else ``git``."""
        if _scheme(self.url):
            user = urlsplit(self.libgit2_url).username
        else:
            match = _scp(self.url)
            user = match.group("user") if match else None
        return user or self.username or "git"

    def load_credentials(self) -> Credentials:
        """Read the credentials now (files, then Secret keys). Raises :class:`PermanentError`."""
        data = {k: _text(v) for k, v in (self.secret_data or {}).items()}
        if self.transport is Transport.SSH:
            key = _read(self.ssh_key, "--ssh-key") if self.ssh_key else data.get("identity")
            passphrase = (
                _read(self.ssh_key_passphrase_file, "--ssh-key-passphrase-file").strip("\r\n")
                if self.ssh_key_passphrase_file
                else data.get("password")
            )
            known, known_from = self._known_hosts(data)
            source = f"ssh key {self.ssh_key}" if self.ssh_key else "ssh key from the Secret"
            public = data.get("identity.pub")
            if self.ssh_key:
                pub = self.ssh_key.expanduser().with_name(self.ssh_key.name + ".pub")
                public = _read(pub, "--ssh-key (public half)") if pub.is_file() else None
            return Credentials(
                username=self.ssh_username(),
                ssh_key=key,
                ssh_passphrase=passphrase or None,
                ssh_public_key=public,
                known_hosts=known,
                known_hosts_source=known_from,
                source=source,
            )
        username = self.username or data.get("username")
        if self.token_file:
            token: str | None = _read(self.token_file, "--git-token-file").strip()
            return Credentials(username=self.username, token=token, source=f"token from {self.token_file}")
        if self.password_file:
            password = _read(self.password_file, "--git-password-file").strip("\r\n")
            return Credentials(
                username=username, password=password, source=f"password from {self.password_file}"
            )
        if data.get("bearerToken"):
            return Credentials(token=data["bearerToken"].strip(), source="bearerToken from the Secret")
        if data.get("password"):
            return Credentials(
                username=username, password=data["password"], source="password from the Secret"
            )
        return Credentials(username=username)

    def _known_hosts(self, data: Mapping[str, str]) -> tuple[str | None, str]:
        if self.known_hosts:
            return _read(self.known_hosts, "--known-hosts"), str(self.known_hosts)
        if data.get("known_hosts"):
            return data["known_hosts"], "known_hosts of the Secret"
        default = Path.home() / ".ssh" / "known_hosts"
        return (default.read_text() if default.is_file() else None), str(default)

    def _secret_keys(self) -> set[str]:
        return {k for k, v in (self.secret_data or {}).items() if v}


def decode_secret_bytes(data: Mapping[str, str]) -> dict[str, bytes]:
    """A Secret's ``.data`` as the API returns it (base64) → the decoded values RemoteConfig takes."""
    try:
        return {k: base64.b64decode(v, validate=True) for k, v in data.items()}
    except ValueError as err:
        raise PermanentError(f"git credentials Secret: a value is not base64 ({err})") from err


def redact_url(url: str) -> str:
    """``https://user:pw@host/x`` → ``https://***@host/x``; any other URL or path unchanged."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*:[^/@]*@", r"\1***@", url)


def _scheme(url: str) -> str | None:
    match = _SCHEME.match(url)
    return match.group(1).lower() if match else None


def _scp(url: str) -> re.Match[str] | None:
    """``user@host:path``, but not a local path that happens to contain a colon."""
    if url.startswith(("/", ".", "~")):
        return None
    return _SCP.match(url)


def _read(path: Path, option: str) -> str:
    try:
        return path.expanduser().read_text()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise PermanentError(f"{option} {path}: {reason}") from err


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
